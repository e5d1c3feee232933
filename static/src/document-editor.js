// The shared document editor: CodeMirror 6 on a Yjs text, synced over the document socket.
//
// The page (documents/templates/documents/document.html) gives the socket path, the person's
// name and colour, whether they may edit, the preview URL and the CSP nonce as data attributes
// of #document-editor. The server is the authority: it stores every change, restamps each
// person's name and colour in their presence, and refuses changes from viewers. Besides
// y-websocket's binary frames, the socket carries JSON notices as text frames (errors,
// read-only, deleted, renamed); they are handled here and never reach y-websocket.
//
// Bundled by esbuild (`make static/dist/document-editor.js`) into static/dist/.

import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import {
  yCollab,
  yRemoteSelectionsTheme,
  ySyncAnnotation,
  yUndoManagerKeymap,
} from "y-codemirror.next";
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import { messageYjsSyncStep1, writeSyncStep1 } from "y-protocols/sync";
import { Compartment, EditorState } from "@codemirror/state";
import {
  Decoration,
  EditorView,
  ViewPlugin,
  WidgetType,
  drawSelection,
  dropCursor,
  highlightSpecialChars,
  keymap,
} from "@codemirror/view";
import { defaultKeymap, indentWithTab } from "@codemirror/commands";
import { HighlightStyle, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { tags } from "@lezer/highlight";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { markdown } from "@codemirror/lang-markdown";

const TEXT_NAME = "content"; // the server reads the document's text under this name
const RESYNC_INTERVAL_MS = 10_000; // a lost update heals at the next state-vector exchange
const SAVE_CHECK_DELAY_MS = 1_000; // after typing stops, ask the server what it holds
const PREVIEW_DELAY_MS = 300;
const CLOSE_SIGNED_OUT = 4401;
const CLOSE_NOT_FOUND = 4404;
const MESSAGE_SYNC = 0; // y-websocket's message type of sync messages
const DEFAULT_COLOUR = "#64748b";
const COLOUR = /^#[0-9a-fA-F]{6}$/;

function start(host) {
  const data = host.dataset;
  const nonce = data.cspNonce || "";
  const ui = pageParts(host);
  const colour = COLOUR.test(data.userColor || "") ? data.userColor : DEFAULT_COLOUR;

  const ydoc = new Y.Doc();
  const ytext = ydoc.getText(TEXT_NAME);
  let ended = false; // deleted, signed out or no longer a member: nothing more will sync
  let passingError = false; // an error notice shown until the server confirms it has everything
  let attempted = false; // a connection was made or tried: not connected now means offline
  let readOnly = data.readOnly === "true";
  let othersAway = ""; // the server cannot reach the others for now: what it said, else ""

  const { serverUrl, room } = socketAddress(data.socketPath || "");
  const provider = new WebsocketProvider(serverUrl, room, ydoc, {
    WebSocketPolyfill: socketWithNotices(onNotice),
    resyncInterval: RESYNC_INTERVAL_MS,
    disableBc: true, // every change goes through the server, which checks who may make it
  });
  provider.awareness.setLocalStateField("user", {
    name: data.userName || "",
    color: colour,
    colorLight: colour + "33",
  });

  const peers = new PeerColours(nonce);
  const editable = new Compartment();
  const colourScheme = new Compartment();
  const view = new EditorView({
    parent: host,
    state: EditorState.create({
      doc: ytext.toString(),
      extensions: [
        EditorView.cspNonce.of(nonce),
        highlightSpecialChars(),
        drawSelection(),
        dropCursor(),
        indentOnInput(),
        syntaxHighlighting(markdownHighlight),
        colourScheme.of(colourSchemeTheme()),
        highlightSelectionMatches(),
        EditorView.lineWrapping,
        markdown(),
        keymap.of([...yUndoManagerKeymap, ...defaultKeymap, ...searchKeymap, indentWithTab]),
        // Shared text and undo of one's own changes; remote cursors are drawn by
        // remoteSelections below, with classes instead of the style attributes y-codemirror.next
        // sets (the site's CSP allows no inline style attributes).
        yCollab(ytext, null),
        yRemoteSelectionsTheme,
        remoteSelections(ytext, provider.awareness, peers),
        changeSizeLimit(Number(data.updateLimit) || 0, (size, limit) => {
          showError(ui, tooLargeMessage(size, limit));
          passingError = true;
        }),
        EditorView.contentAttributes.of({ "aria-label": "Document text" }),
        editable.of(editableExtensions(!readOnly)),
      ],
    }),
  });

  DARK.addEventListener("change", () =>
    view.dispatch({ effects: colourScheme.reconfigure(colourSchemeTheme()) }),
  );

  // A viewer's page, or a member's made viewer while it is open: the editor and the editors'
  // controls (Ask the assistant, Save version, Rename, Delete: class editors-only) go away.
  function readOnlySet(reason) {
    readOnly = true;
    passingError = false;
    view.dispatch({ effects: editable.reconfigure(editableExtensions(false)) });
    host.dataset.readOnly = "true";
    ui.page?.classList.add("read-only");
    if (ui.ask) ui.ask.hidden = true; // nor may they ask the assistant to write
    noticeShow(ui, "");
    if (reason) showError(ui, reason);
    statusShow();
  }

  // Made member again while the page is open: editable at once, no reload needed.
  function editableSet(message) {
    readOnly = false;
    view.dispatch({ effects: editable.reconfigure(editableExtensions(true)) });
    host.dataset.readOnly = "false";
    ui.page?.classList.remove("read-only");
    if (ui.ask) ui.ask.hidden = false;
    if (ui.error) ui.error.hidden = true;
    noticeShow(ui, message);
    stateVectorSend(); // the server answers with its state vector: saving resumes
    statusShow();
  }

  function end(reason) {
    ended = true;
    provider.shouldConnect = false;
    readOnlySet(reason);
    statusSet(ui, "closed", "Not connected: changes made here are not saved.");
  }

  // The server's notices, each to the handler of its type (as its sockets take events).
  const noticeHandlers = new Map([
    [
      "error",
      (notice) => {
        showError(ui, notice.message);
        passingError = true;
      },
    ],
    [
      "read_only",
      (notice) => {
        if (!readOnly) readOnlySet(notice.message); // a viewer's page says so already
      },
    ],
    [
      "editable",
      (notice) => {
        if (readOnly && !ended) editableSet(notice.message);
      },
    ],
    [
      "deleted",
      (notice) => {
        end(notice.message);
        provider.disconnect();
      },
    ],
    [
      "renamed",
      (notice) => {
        if (!ui.title) return;
        const before = ui.title.textContent;
        ui.title.textContent = notice.title;
        if (document.title.startsWith(before)) {
          document.title = notice.title + document.title.slice(before.length); // the tab too
        }
      },
    ],
    ["write", (notice) => writes.show(notice)],
    // The server cannot reach the others for now (its Redis is away), then can again.
    [
      "away",
      (notice) => {
        othersAway = notice.message;
        statusShow();
      },
    ],
    [
      "back",
      () => {
        othersAway = "";
        statusShow();
      },
    ],
  ]);

  function onNotice(notice) {
    const handler = noticeHandlers.get(notice.type);
    if (handler) handler(notice);
  }

  // --- Connection and "saved" -------------------------------------------------------------
  // The server answers each state vector the editor sends with its own. The document is saved
  // when the server's entry for this editor's client reaches what this editor has written.
  // (A state vector counts insertions; a deletion is sent at once like any change, and the
  // status says "offline" whenever it cannot be.)
  let serverHasOwn = 0;
  let saveCheck = 0;
  let checksBehind = 0; // consecutive answers that still lacked this editor's edits
  const saveCheckSoon = () => {
    window.clearTimeout(saveCheck);
    const delay = Math.min(SAVE_CHECK_DELAY_MS * 2 ** checksBehind, RESYNC_INTERVAL_MS);
    saveCheck = window.setTimeout(stateVectorSend, delay);
  };
  const ownClock = () => Y.getState(ydoc.store, ydoc.clientID);
  const syncHandler = provider.messageHandlers[MESSAGE_SYNC];
  provider.messageHandlers[MESSAGE_SYNC] = (encoder, decoder, ...rest) => {
    const peek = decoding.clone(decoder);
    if (decoding.readVarUint(peek) === messageYjsSyncStep1) {
      // A read-only editor sends no changes, so it leaves the server's state vector
      // unanswered: Yjs would answer with at least the document's whole delete set (any
      // document with a deletion: one the assistant rewrote, a restored version), which the
      // server refuses from a viewer.
      if (readOnly) return;
      const serverState = Y.decodeStateVector(decoding.readVarUint8Array(peek));
      serverHasOwn = serverState.get(ydoc.clientID) || 0;
      // Behind: the edits were sent (on joining, an answer to this very message sends them);
      // ask again shortly rather than at the next periodic resync.
      if (serverHasOwn < ownClock()) {
        saveCheckSoon();
        checksBehind += 1;
      } else {
        checksBehind = 0;
      }
      window.setTimeout(statusShow, 0);
    }
    return syncHandler(encoder, decoder, ...rest);
  };

  function statusShow() {
    if (ended) return;
    if (!provider.wsconnected) {
      if (attempted) {
        statusSet(ui, "offline", "Offline: your edits are kept here and sync when the connection is back.");
      } else {
        statusSet(ui, "connecting", "Connecting…");
      }
    } else if (!provider.synced) {
      statusSet(ui, "connecting", "Connecting…");
    } else if (othersAway) {
      statusSet(ui, "offline", othersAway);
    } else if (readOnly) {
      statusSet(ui, "saved", "Connected · read only");
    } else if (serverHasOwn >= ownClock()) {
      statusSet(ui, "saved", "Connected · all changes saved");
      if (passingError && ui.error) {
        // The server holds every change since: what went wrong has healed.
        passingError = false;
        ui.error.hidden = true;
      }
    } else {
      statusSet(ui, "saving", "Connected · saving…");
    }
  }

  provider.on("status", statusShow);
  provider.on("sync", statusShow);
  provider.on("connection-close", (event) => {
    attempted = true;
    othersAway = ""; // the next socket says so again if it still is
    if (ended || !event) return statusShow();
    if (event.code === CLOSE_SIGNED_OUT) {
      end("You are signed out. Log in again (in another tab, to keep this text) to go on editing.");
    } else if (event.code === CLOSE_NOT_FOUND) {
      end("This document is gone, or you are no longer a member of its workspace.");
    } else if (event.code >= 4400 && event.code < 4500) {
      // y-websocket does not reconnect after these: the server decided, not the network.
      end(event.reason || `The server closed the connection (${event.code}). Reload to try again.`);
    } else {
      statusShow();
    }
  });

  ydoc.on("update", (_update, origin) => {
    if (origin === provider) return; // a change from the server
    statusShow();
    saveCheckSoon();
  });

  function stateVectorSend() {
    const ws = provider.ws;
    if (!provider.wsconnected || !ws || ws.readyState !== WebSocket.OPEN) return;
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, MESSAGE_SYNC);
    writeSyncStep1(encoder, ydoc);
    ws.send(encoding.toUint8Array(encoder));
  }

  // --- Presence ---------------------------------------------------------------------------
  const presenceShow = () => presenceRender(ui.presence, provider.awareness, peers);
  provider.awareness.on("change", presenceShow);
  presenceShow();

  // --- The assistant as co-author ---------------------------------------------------------
  const writes = new Writes(ui.writes, ui.ask, () => readOnly);
  ui.ask?.addEventListener("submit", (event) => {
    event.preventDefault();
    if (readOnly) return;
    // At the cursor, or over the selection (which CodeMirror keeps while the form has focus).
    const { anchor, head, empty } = view.state.selection.main;
    const position = (index) =>
      JSON.stringify(Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(ytext, index)));
    writes.ask({
      anchor: position(empty ? head : Math.min(anchor, head)),
      head: empty ? "" : position(Math.max(anchor, head)),
    });
  });

  // --- Preview ----------------------------------------------------------------------------
  const preview = new Preview(ui.preview, data.previewUrl, csrfToken());
  ytext.observe(() => preview.schedule(ytext.toString()));
  provider.once("sync", () => preview.schedule(ytext.toString()));

  statusShow();
}

// The page's elements this editor writes to; a presence list is added if the page has none.
function pageParts(host) {
  let presence = document.getElementById("document-presence");
  if (!presence) {
    presence = document.createElement("ul");
    presence.id = "document-presence";
    presence.className = "presence";
    presence.setAttribute("aria-label", "Who is here");
    (host.closest(".document-columns") || host).before(presence);
  }
  return {
    page: host.closest(".document-page"),
    status: document.getElementById("document-status"),
    error: document.getElementById("document-error"),
    notice: document.getElementById("document-notice"),
    preview: document.getElementById("document-preview"),
    title: document.getElementById("document-title"),
    ask: document.getElementById("document-ask"),
    writes: document.getElementById("document-writes"),
    presence,
  };
}

// y-websocket connects to `serverUrl + "/" + room`: split the path so that this is exactly
// the page's socket path, its trailing slash included.
function socketAddress(path) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const cut = path.replace(/\/$/, "").lastIndexOf("/");
  return {
    serverUrl: `${scheme}//${window.location.host}${path.slice(0, cut)}`,
    room: path.slice(cut + 1),
  };
}

// A WebSocket whose own listener, added before y-websocket sets `onmessage`, takes the
// server's text frames (JSON notices) and stops them there.
function socketWithNotices(onNotice) {
  return class NoticeSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      this.addEventListener("message", (event) => {
        if (typeof event.data !== "string") return;
        event.stopImmediatePropagation();
        let notice;
        try {
          notice = JSON.parse(event.data);
        } catch {
          return;
        }
        if (notice && typeof notice.type === "string") onNotice(notice);
      });
    }
  };
}

// One change larger than the server takes (data-update-limit) is refused here, before it
// enters the shared document: had it been sent, the server would refuse it, and every later
// change of this editor, which builds on it, could not be saved either. The Yjs update of an
// insertion is its text in UTF-8 and a few dozen bytes; keep a margin for them.
const UPDATE_OVERHEAD_BYTES = 1024;
const utf8 = new TextEncoder();

function changeSizeLimit(limit, onRefused) {
  return EditorState.transactionFilter.of((transaction) => {
    if (!limit || !transaction.docChanged) return transaction;
    if (transaction.annotation(ySyncAnnotation) !== undefined) return transaction; // remote
    let size = UPDATE_OVERHEAD_BYTES;
    transaction.changes.iterChanges((_fromA, _toA, _fromB, _toB, inserted) => {
      size += utf8.encode(inserted.toString()).length;
    });
    if (size <= limit) return transaction;
    onRefused(size, limit);
    return [];
  });
}

function tooLargeMessage(size, limit) {
  return (
    `That change is too large (${size.toLocaleString("en")} bytes; one change can be at most ` +
    `${limit.toLocaleString("en")}). It was not made: paste it in smaller parts.`
  );
}

// Markdown's marks in the page's own colours (CSS variables), so that light and dark both read
// well; CodeMirror's selection and cursor follow the colour scheme.
const markdownHighlight = HighlightStyle.define([
  { tag: tags.heading1, fontWeight: "bold", fontSize: "1.2em" },
  { tag: [tags.heading2, tags.heading3, tags.heading4, tags.heading5, tags.heading6], fontWeight: "bold" },
  { tag: tags.strong, fontWeight: "bold" },
  { tag: tags.emphasis, fontStyle: "italic" },
  { tag: tags.strikethrough, textDecoration: "line-through" },
  { tag: tags.link, color: "var(--accent)" },
  { tag: [tags.url, tags.processingInstruction, tags.contentSeparator, tags.labelName], color: "var(--muted)" },
  { tag: tags.quote, fontStyle: "italic" },
  { tag: tags.monospace, fontFamily: "ui-monospace, monospace" },
]);
const DARK = window.matchMedia("(prefers-color-scheme: dark)");
const colourSchemeTheme = () => EditorView.theme({}, { dark: DARK.matches });

function editableExtensions(canEdit) {
  return [EditorState.readOnly.of(!canEdit), EditorView.editable.of(canEdit)];
}

function statusSet(ui, state, text) {
  if (!ui.status) return;
  ui.status.dataset.state = state;
  ui.status.textContent = text;
}

function showError(ui, message) {
  if (!ui.error) return;
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function noticeShow(ui, message) {
  if (!ui.notice) return;
  ui.notice.textContent = message;
  ui.notice.hidden = !message;
}

function csrfToken() {
  const holder = document.querySelector("[data-csrf-token]");
  if (holder) return holder.dataset.csrfToken;
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  } catch {
    return "";
  }
}

// --- Peers' colours as classes ------------------------------------------------------------
// Each peer (a Yjs client) gets a class `peer-<client id>` whose colours are rules in one
// nonce-carrying <style> element: the CSP allows no style attributes.
class PeerColours {
  constructor(nonce) {
    this.rules = new Map();
    this.sheet = document.createElement("style");
    this.sheet.nonce = nonce;
    document.head.append(this.sheet);
  }

  className(clientId, user) {
    const colour = COLOUR.test(user?.color || "") ? user.color : DEFAULT_COLOUR;
    const light = /^#[0-9a-fA-F]{8}$/.test(user?.colorLight || "") ? user.colorLight : colour + "33";
    const name = `peer-${clientId >>> 0}`;
    const rule =
      `.cm-editor .${name}.cm-ySelection, .cm-editor .${name}.cm-yLineSelection { background-color: ${light}; }\n` +
      `.cm-editor .${name}.cm-ySelectionCaret { background-color: ${colour}; border-color: ${colour}; }\n` +
      `.${name}.presence-person::before { background-color: ${colour}; }`;
    if (this.rules.get(name) !== rule) {
      this.rules.set(name, rule);
      this.sheet.textContent = Array.from(this.rules.values()).join("\n");
    }
    return name;
  }
}

// --- Remote cursors and selections --------------------------------------------------------
// Publishes this editor's cursor in its presence and draws the others', like
// y-codemirror.next's remote selections but with classes for colours.
class CaretWidget extends WidgetType {
  constructor(className, name) {
    super();
    this.className = className;
    this.name = name;
  }

  eq(other) {
    return other.className === this.className && other.name === this.name;
  }

  toDOM() {
    const caret = document.createElement("span");
    caret.className = `cm-ySelectionCaret ${this.className}`;
    const dot = document.createElement("div");
    dot.className = "cm-ySelectionCaretDot";
    const info = document.createElement("div");
    info.className = "cm-ySelectionInfo";
    info.textContent = this.name;
    caret.append("\u2060", dot, "\u2060", info, "\u2060");
    return caret;
  }

  ignoreEvent() {
    return true;
  }
}

function remoteSelections(ytext, awareness, peers) {
  return ViewPlugin.fromClass(
    class {
      constructor(view) {
        this.decorations = Decoration.none;
        this.onChange = ({ added, updated, removed }) => {
          const clients = added.concat(updated, removed);
          if (clients.some((id) => id !== awareness.clientID)) view.dispatch({});
        };
        awareness.on("change", this.onChange);
      }

      destroy() {
        awareness.off("change", this.onChange);
      }

      update(update) {
        this.cursorPublish(update);
        this.decorations = this.draw(update.view);
      }

      cursorPublish(update) {
        const local = awareness.getLocalState();
        if (local == null) return;
        const focused = update.view.hasFocus && update.view.dom.ownerDocument.hasFocus();
        if (!focused) return;
        const { anchor, head } = update.state.selection.main;
        const cursor = {
          anchor: Y.createRelativePositionFromTypeIndex(ytext, anchor),
          head: Y.createRelativePositionFromTypeIndex(ytext, head),
        };
        const previous = local.cursor;
        const same =
          previous &&
          Y.compareRelativePositions(Y.createRelativePositionFromJSON(previous.anchor), cursor.anchor) &&
          Y.compareRelativePositions(Y.createRelativePositionFromJSON(previous.head), cursor.head);
        if (!same) awareness.setLocalStateField("cursor", cursor);
      }

      draw(view) {
        const ranges = [];
        const doc = view.state.doc;
        awareness.getStates().forEach((state, clientId) => {
          if (clientId === awareness.clientID || !state.cursor) return;
          const anchor = absolute(state.cursor.anchor, ytext);
          const head = absolute(state.cursor.head, ytext);
          if (anchor == null || head == null || Math.max(anchor, head) > doc.length) return;
          const peer = peers.className(clientId, state.user);
          const selection = Decoration.mark({ class: `cm-ySelection ${peer}` });
          const from = Math.min(anchor, head);
          const to = Math.max(anchor, head);
          const first = doc.lineAt(from);
          const last = doc.lineAt(to);
          if (from < to) {
            if (first.number === last.number) {
              ranges.push(selection.range(from, to));
            } else {
              if (from < first.to) ranges.push(selection.range(from, first.to));
              for (let number = first.number + 1; number < last.number; number++) {
                const line = doc.line(number);
                ranges.push(Decoration.line({ class: `cm-yLineSelection ${peer}` }).range(line.from));
              }
              if (last.from < to) ranges.push(selection.range(last.from, to));
            }
          }
          const caret = new CaretWidget(peer, String(state.user?.name || ""));
          ranges.push(Decoration.widget({ widget: caret, side: head > anchor ? -1 : 1 }).range(head));
        });
        return Decoration.set(ranges, true);
      }
    },
    { decorations: (plugin) => plugin.decorations },
  );
}

function absolute(json, ytext) {
  if (!json) return null;
  const position = Y.createAbsolutePositionFromRelativePosition(
    Y.createRelativePositionFromJSON(json),
    ytext.doc,
  );
  return position && position.type === ytext ? position.index : null;
}

// --- Who is here --------------------------------------------------------------------------
function presenceRender(list, awareness, peers) {
  const people = new Map(); // one entry per name: someone with two tabs open is here once
  awareness.getStates().forEach((state, clientId) => {
    const name = state.user?.name;
    if (!name) return;
    const own = clientId === awareness.clientID;
    if (!people.has(name) || own) people.set(name, { clientId, user: state.user, own });
  });
  const items = Array.from(people.values())
    .sort((a, b) => Number(b.own) - Number(a.own) || a.user.name.localeCompare(b.user.name))
    .map(({ clientId, user, own }) => {
      const item = document.createElement("li");
      item.className = `presence-person ${peers.className(clientId, user)}`;
      item.textContent = own ? `${user.name} (you)` : user.name;
      return item;
    });
  list.replaceChildren(...items);
}

// --- The assistant's writes ---------------------------------------------------------------
// The form #document-ask asks the assistant to write (data-write-url); the socket tells every
// editor how each write stands ({"type": "write", id, status, instruction, by, stopped_by,
// error, ahead}), and #document-writes lists them, with a Stop button (data-stop-url, for
// write 0) while active; a stopped one says who stopped it.
const WRITE_ACTIVE = new Set(["queued", "writing"]);
const WRITE_STATES = {
  queued: "waiting for the assistant",
  writing: "the assistant is writing…",
  done: "done",
  stopped: "stopped",
  interrupted: "interrupted (what was written is kept)",
  failed: "failed",
};
const WRITE_ENDED_SHOWN_MS = 20_000;

class Writes {
  constructor(list, form, readOnly) {
    this.list = list;
    this.form = form;
    this.readOnly = readOnly;
    this.items = new Map();
    this.error = form?.querySelector(".error");
  }

  async ask(positions) {
    const form = this.form;
    const body = new URLSearchParams(new FormData(form));
    for (const [name, value] of Object.entries(positions)) if (value) body.set(name, value);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const answer = await postJson(form.dataset.writeUrl, body);
      if (answer.ok) {
        form.reset();
        this.errorShow("");
      } else {
        this.errorShow(answer.data.error || `The request failed (${answer.status}).`);
      }
    } finally {
      button.disabled = false;
    }
  }

  async stop(id, button) {
    button.disabled = true;
    button.textContent = "Stopping…";
    const url = this.form.dataset.stopUrl.replace(/\/0\/stop\/$/, `/${id}/stop/`);
    const answer = await postJson(url, new URLSearchParams()); // (an empty multipart body is a 400)
    if (!answer.ok && answer.status !== 409) {
      button.disabled = false;
      button.textContent = "Stop";
      this.errorShow(answer.data.error || `Could not stop it (${answer.status}).`);
    }
  }

  show(write) {
    if (!this.list || typeof write.id !== "number") return;
    let item = this.items.get(write.id);
    if (!item) {
      item = document.createElement("li");
      item.className = "write";
      this.items.set(write.id, item);
      this.list.append(item);
    }
    item.dataset.status = write.status;
    const asked = document.createElement("span");
    asked.textContent = `${write.by || "Someone"} asked the assistant: “${write.instruction}”`;
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = WRITE_STATES[write.status] || write.status;
    if (write.status === "stopped" && write.stopped_by) {
      state.textContent = `stopped by ${write.stopped_by}`;
    }
    if (write.status === "queued" && typeof write.ahead === "number") {
      state.textContent += write.ahead ? ` · ${write.ahead} ahead` : " · next";
    }
    if (write.error) state.textContent += `: ${write.error}`;
    item.replaceChildren(asked, " ", state);
    if (WRITE_ACTIVE.has(write.status) && this.form && !this.readOnly()) {
      const stop = document.createElement("button");
      stop.type = "button";
      stop.className = "stop editors-only";
      stop.textContent = "Stop";
      stop.addEventListener("click", () => this.stop(write.id, stop));
      item.append(" ", stop);
    } else if (!WRITE_ACTIVE.has(write.status)) {
      window.setTimeout(() => {
        if (item.dataset.status === write.status) {
          item.remove();
          this.items.delete(write.id);
        }
      }, WRITE_ENDED_SHOWN_MS);
    }
  }

  errorShow(message) {
    if (!this.error) return;
    this.error.textContent = message;
  }
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    body,
    credentials: "same-origin",
  });
  let data = {};
  try {
    data = await response.json();
  } catch {
    // not JSON: an error page; the status says enough
  }
  return { ok: response.ok, status: response.status, data };
}

// --- Markdown preview ---------------------------------------------------------------------
// The server renders the text with the messages' sanitizer; the newest request wins.
class Preview {
  constructor(element, url, token) {
    this.element = element;
    this.url = url;
    this.token = token;
    this.timer = 0;
    this.inFlight = null;
  }

  schedule(text) {
    if (!this.element || !this.url) return;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.render(text), PREVIEW_DELAY_MS);
  }

  async render(text) {
    this.inFlight?.abort();
    const request = new AbortController();
    this.inFlight = request;
    try {
      const response = await fetch(this.url, {
        method: "POST",
        headers: { "X-CSRFToken": this.token },
        body: new URLSearchParams({ text }),
        credentials: "same-origin",
        signal: request.signal,
      });
      const body = await response.text();
      if (this.inFlight !== request) return;
      if (response.ok) {
        this.element.innerHTML = body; // sanitized by the server, as messages are
        this.element.dataset.state = "ready";
      } else {
        this.element.textContent = body || `The preview failed (${response.status}).`;
        this.element.dataset.state = "failed";
      }
    } catch (error) {
      if (error.name !== "AbortError") this.element.dataset.state = "failed";
    }
  }
}

// Last, once every class above is defined.
const editorHost = document.getElementById("document-editor");
if (editorHost) start(editorHost);
