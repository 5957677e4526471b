// Cosmic Works chat page: streams answers from POST ai/stream (Server-Sent Events read with
// fetch, since EventSource cannot POST), lists / opens / deletes conversations through
// session/*, and keeps the session id and the API key in localStorage.
//
// Model text is never parsed as HTML: a small renderer builds DOM nodes for paragraphs,
// lists, **bold**, `code` and prices, and puts all text in through text nodes.
(() => {
  "use strict";

  // The page is served at <root>/chat: the API lives at <root>/ (also behind a path prefix).
  const API_ROOT = new URL(".", window.location.href);
  const STORE = { session: "cosmicWorks.sessionId", key: "cosmicWorks.apiKey" };

  const $ = (id) => document.getElementById(id);
  const ui = {
    sidebar: $("sidebar"),
    toggleSessions: $("toggle-sessions"),
    closeSessions: $("close-sessions"),
    newChat: $("new-chat"),
    sessionList: $("session-list"),
    sessionsStatus: $("sessions-status"),
    keyButton: $("key-button"),
    intro: $("intro"),
    messages: $("messages"),
    status: $("status"),
    error: $("error"),
    form: $("ask-form"),
    prompt: $("prompt"),
    send: $("send"),
    keyDialog: $("key-dialog"),
    keyForm: $("key-form"),
    keyInput: $("key-input"),
    keyReason: $("key-reason"),
  };

  let sessionId = read(STORE.session);
  let running = null; // AbortController of the turn being streamed
  const afterKey = new Set(); // what to retry once a key has been entered

  // ------------------------------------------------------------------ storage

  function read(name) {
    try {
      return window.localStorage.getItem(name) || null;
    } catch (_) {
      return null; // storage disabled: the page still works, without memory
    }
  }

  function write(name, value) {
    try {
      if (value) window.localStorage.setItem(name, value);
      else window.localStorage.removeItem(name);
    } catch (_) {
      /* storage disabled */
    }
  }

  function setSession(id) {
    sessionId = id || null;
    write(STORE.session, sessionId);
    markCurrentSession();
  }

  // ------------------------------------------------------------------ HTTP

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function errorOf(response) {
    let code = `http_${response.status}`;
    let message = `The server answered ${response.status} ${response.statusText}`.trim() + ".";
    try {
      const body = await response.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || message;
      }
    } catch (_) {
      /* not JSON: keep the status line */
    }
    return new ApiError(response.status, code, message);
  }

  async function api(path, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    const key = read(STORE.key);
    if (key) headers.Authorization = `Bearer ${key}`;
    let response;
    try {
      response = await fetch(new URL(path, API_ROOT), { ...options, headers });
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiError(0, "network_error", "Could not reach the server. Check your connection and try again.");
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  // Server-Sent Events from a fetch body: yields {event, data} per event block.
  async function* sseEvents(response) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        let text = buffer + value;
        // A chunk may end between "\r" and "\n": keep a trailing "\r" for the next one.
        let carry = "";
        if (text.endsWith("\r")) {
          carry = "\r";
          text = text.slice(0, -1);
        }
        text = text.replace(/\r\n?/g, "\n");
        let end;
        while ((end = text.indexOf("\n\n")) !== -1) {
          const parsed = parseBlock(text.slice(0, end));
          text = text.slice(end + 2);
          if (parsed) yield parsed;
        }
        buffer = text + carry;
      }
    } finally {
      reader.releaseLock();
    }
  }

  function parseBlock(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue; // comments are keep-alive pings
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    return data.length ? { event, data: data.join("\n") } : null;
  }

  // ------------------------------------------------------------------ rendering

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const INLINE = /`([^`\n]+)`|\*\*([^*\n]+)\*\*|(\$\d[\d,]*(?:\.\d+)?)/g;

  function appendInline(parent, text) {
    let last = 0;
    INLINE.lastIndex = 0;
    for (let match = INLINE.exec(text); match; match = INLINE.exec(text)) {
      if (match.index > last) parent.append(text.slice(last, match.index));
      if (match[1] !== undefined) parent.append(el("code", "", match[1]));
      else if (match[2] !== undefined) parent.append(el("strong", "", match[2]));
      else parent.append(el("span", "price", match[3]));
      last = INLINE.lastIndex;
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  // Paragraphs, "- " / "* " / "1. " lists, "#" headings (shown bold), inline marks.
  function renderText(container, text) {
    container.replaceChildren();
    let list = null;
    let paragraph = null;
    for (const line of text.replace(/\r\n?/g, "\n").split("\n")) {
      const bullet = /^\s*[-*\u2022]\s+(.*)$/.exec(line);
      const numbered = /^\s*(\d+)[.)]\s+(.*)$/.exec(line);
      if (bullet || numbered) {
        const tag = bullet ? "UL" : "OL";
        if (!list || list.tagName !== tag) {
          list = el(tag.toLowerCase());
          if (numbered && numbered[1] !== "1") list.start = Number(numbered[1]);
          container.append(list);
        }
        const item = el("li");
        appendInline(item, bullet ? bullet[1] : numbered[2]);
        list.append(item);
        paragraph = null;
        continue;
      }
      list = null;
      if (!line.trim()) {
        paragraph = null;
        continue;
      }
      const heading = /^#{1,6}\s+(.*)$/.exec(line);
      if (heading) {
        const p = el("p");
        const strong = el("strong");
        appendInline(strong, heading[1]);
        p.append(strong);
        container.append(p);
        paragraph = null;
        continue;
      }
      if (!paragraph) {
        paragraph = el("p");
        container.append(paragraph);
      } else {
        paragraph.append(el("br"));
      }
      appendInline(paragraph, line);
    }
  }

  function addMessage(role, text) {
    ui.intro.hidden = true;
    const article = el("article", `message ${role}`);
    article.append(el("span", "who", role === "user" ? "You" : "Assistant"));
    const tools = el("ul", "tools");
    tools.setAttribute("aria-label", "Tools used");
    tools.hidden = true;
    const content = el("div", "content");
    article.append(tools, content);
    renderText(content, text);
    ui.messages.append(article);
    scrollToEnd();
    return { article, tools, content };
  }

  function scrollToEnd() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function clearConversation() {
    ui.messages.replaceChildren();
    ui.intro.hidden = false;
    setStatus("");
    hideError();
  }

  // Outside `content`, which each render of the streamed text replaces.
  function showReplyError(reply, code, message) {
    const box = el("p", "error-text");
    box.append(message || "Something went wrong.");
    if (code) {
      box.append(" ");
      box.append(el("span", "error-code", `(${code})`));
    }
    reply.article.append(box);
    scrollToEnd();
  }

  function setStatus(text) {
    ui.status.textContent = text;
  }

  function showError(message, code) {
    ui.error.replaceChildren(message);
    if (code) {
      ui.error.append(" ");
      ui.error.append(el("span", "error-code", `(${code})`));
    }
    ui.error.hidden = false;
  }

  function hideError() {
    ui.error.hidden = true;
    ui.error.replaceChildren();
  }

  function describeInput(input) {
    if (input === null || input === undefined) return "";
    if (typeof input !== "object") return String(input);
    return Object.entries(input)
      .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
      .join(", ");
  }

  function addTool(reply, name, input) {
    const item = el("li", "tool");
    item.dataset.name = name;
    item.dataset.state = "running";
    item.append(el("span", "tool-name", name));
    const args = describeInput(input);
    if (args) {
      item.append(" ");
      item.append(el("span", "tool-args", `(${args})`));
    }
    const state = el("span", "tool-state", "\u2026");
    state.setAttribute("aria-label", "running");
    item.append(state);
    reply.tools.append(item);
    reply.tools.hidden = false;
  }

  function finishTool(reply, name) {
    for (const item of reply.tools.querySelectorAll('li[data-state="running"]')) {
      if (item.dataset.name === name) {
        item.dataset.state = "done";
        const state = item.querySelector(".tool-state");
        state.textContent = "\u2713";
        state.setAttribute("aria-label", "done");
        return;
      }
    }
  }

  // ------------------------------------------------------------------ a turn

  function setRunning(controller) {
    running = controller;
    ui.send.textContent = controller ? "Stop" : "Send";
    ui.send.classList.toggle("primary", !controller);
    ui.prompt.readOnly = Boolean(controller);
    for (const button of document.querySelectorAll(".suggestion")) button.disabled = Boolean(controller);
  }

  async function ask(question) {
    question = question.trim();
    if (!question || running) return;
    hideError();
    const mine = addMessage("user", question);
    const reply = addMessage("assistant", "");
    reply.article.classList.add("pending");
    reply.article.setAttribute("aria-busy", "true");
    const controller = new AbortController();
    setRunning(controller);
    setStatus("Thinking\u2026");

    let answer = "";
    let finished = false;
    let scheduled = false;
    const render = () => {
      scheduled = false;
      renderText(reply.content, answer);
      scrollToEnd();
    };
    const scheduleRender = () => {
      if (!scheduled) {
        scheduled = true;
        window.requestAnimationFrame(render);
      }
    };

    try {
      const body = { prompt: question };
      if (sessionId) body.session_id = sessionId;
      const response = await api("ai/stream", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      const headerSession = response.headers.get("X-Session-Id");
      if (headerSession) setSession(headerSession);
      for await (const { event, data: raw } of sseEvents(response)) {
        let data;
        try {
          data = JSON.parse(raw);
        } catch (_) {
          continue;
        }
        if (event === "metadata") {
          if (data.session_id) setSession(data.session_id);
        } else if (event === "tool_start") {
          addTool(reply, data.name, data.input);
          setStatus(`Looking up: ${data.name}\u2026`);
        } else if (event === "tool_end") {
          finishTool(reply, data.name);
          setStatus("Writing the answer\u2026");
        } else if (event === "token") {
          answer += data.content || "";
          scheduleRender();
        } else if (event === "end") {
          finished = true;
          answer = typeof data.message === "string" ? data.message : answer;
          render();
          if (data.session_id) setSession(data.session_id);
        } else if (event === "error") {
          finished = true;
          render();
          showReplyError(reply, data.code, data.message);
        }
      }
      if (!finished) {
        render();
        showReplyError(reply, "stream_closed", "The connection closed before the answer was complete; this question was not saved. Ask again.");
      }
      setStatus("");
      refreshSessions();
    } catch (err) {
      setStatus("");
      if (err && err.name === "AbortError") {
        render();
        showReplyError(reply, "", "Stopped. This question was not saved.");
      } else if (err instanceof ApiError && err.status === 401) {
        reply.article.remove();
        mine.article.remove();
        if (!ui.messages.childElementCount) ui.intro.hidden = false;
        ui.prompt.value = question; // kept if the dialog is cancelled
        askForKey(err.message, () => {
          ui.prompt.value = "";
          ask(question);
        });
      } else {
        render();
        showReplyError(reply, err.code || "", err.message || String(err));
      }
    } finally {
      reply.article.classList.remove("pending");
      reply.article.removeAttribute("aria-busy");
      setRunning(null);
    }
  }

  // ------------------------------------------------------------------ sessions

  const relativeTime = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

  function when(seconds) {
    const delta = seconds - Date.now() / 1000;
    const steps = [
      [60, "second"],
      [3600, "minute"],
      [86400, "hour"],
      [604800, "day"],
    ];
    let unit = 1;
    for (const [limit, name] of steps) {
      if (Math.abs(delta) < limit) return relativeTime.format(Math.round(delta / unit), name);
      unit = limit;
    }
    return new Date(seconds * 1000).toLocaleDateString();
  }

  function markCurrentSession() {
    for (const item of ui.sessionList.children) {
      if (item.dataset.id === sessionId) item.setAttribute("aria-current", "true");
      else item.removeAttribute("aria-current");
    }
  }

  function renderSessions(sessions) {
    ui.sessionList.replaceChildren();
    for (const session of sessions) {
      const item = el("li", "session-item");
      item.dataset.id = session.session_id;
      const open = el("button", "session-open");
      open.type = "button";
      open.append(el("span", "session-title", session.title || "Untitled conversation"));
      open.append(el("span", "session-time", when(session.updated_at)));
      open.addEventListener("click", () => openSession(session.session_id));
      const remove = el("button", "session-delete", "\u00d7");
      remove.type = "button";
      remove.setAttribute("aria-label", `Delete conversation: ${session.title || session.session_id}`);
      remove.title = "Delete this conversation";
      remove.addEventListener("click", () => deleteSession(session));
      item.append(open, remove);
      ui.sessionList.append(item);
    }
    ui.sessionsStatus.textContent = sessions.length ? "" : "No conversations yet.";
    markCurrentSession();
  }

  async function refreshSessions() {
    try {
      const response = await api("session/list");
      renderSessions(await response.json());
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        ui.sessionsStatus.textContent = "Enter the API key to see your conversations.";
        askForKey(err.message, refreshSessions);
      } else {
        ui.sessionsStatus.textContent = `Could not load the conversations: ${err.message}`;
      }
    }
  }

  async function openSession(id, { quiet = false } = {}) {
    if (running) return;
    closeDrawer();
    try {
      const response = await api(`session/load/${encodeURIComponent(id)}`);
      const session = await response.json();
      clearConversation();
      setSession(session.session_id);
      for (const item of session.history) addMessage(item.role === "user" ? "user" : "assistant", item.content);
      if (!session.history.length) ui.intro.hidden = false;
      if (!quiet) ui.prompt.focus();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        if (id === sessionId) setSession(null);
        if (!quiet) showError("That conversation no longer exists.", err.code);
        refreshSessions();
      } else if (err instanceof ApiError && err.status === 401) {
        askForKey(err.message, () => openSession(id, { quiet }));
      } else {
        showError(`Could not open the conversation: ${err.message}`, err.code);
      }
    }
  }

  async function deleteSession(session) {
    const title = session.title || session.session_id;
    if (!window.confirm(`Delete the conversation \u201c${title}\u201d? This cannot be undone.`)) return;
    try {
      await api(`session/${encodeURIComponent(session.session_id)}`, { method: "DELETE" });
      if (session.session_id === sessionId) {
        setSession(null);
        clearConversation();
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        askForKey(err.message, () => deleteSession(session));
        return;
      }
      if (!(err instanceof ApiError && err.status === 404)) {
        showError(`Could not delete the conversation: ${err.message}`, err.code);
      }
    }
    refreshSessions();
  }

  function newChat() {
    if (running) return;
    setSession(null);
    clearConversation();
    closeDrawer();
    ui.prompt.focus();
  }

  // ------------------------------------------------------------------ API key

  function askForKey(reason, retry) {
    if (retry) afterKey.add(retry);
    ui.keyReason.textContent = reason
      ? `${reason} The key is kept in this browser only.`
      : "Enter the API key for this server. It is kept in this browser only.";
    ui.keyInput.value = "";
    if (!ui.keyDialog.open) ui.keyDialog.showModal();
    ui.keyInput.focus();
  }

  function onKeyDialogClose() {
    const action = ui.keyDialog.returnValue;
    const retries = [...afterKey];
    afterKey.clear();
    if (action === "save" && ui.keyInput.value.trim()) {
      write(STORE.key, ui.keyInput.value.trim());
      ui.keyInput.value = "";
      if (!retries.includes(refreshSessions)) retries.push(refreshSessions);
      for (const retry of retries) retry();
    } else if (action === "forget") {
      write(STORE.key, null);
      ui.keyInput.value = "";
      refreshSessions();
    }
    ui.keyButton.textContent = read(STORE.key) ? "API key \u2713" : "API key";
  }

  // ------------------------------------------------------------------ narrow screens

  // Below 760px the list is a panel over the page, opened from the header.
  function closeDrawer({ refocus = false } = {}) {
    if (!ui.sidebar.classList.contains("open")) return;
    ui.sidebar.classList.remove("open");
    ui.toggleSessions.setAttribute("aria-expanded", "false");
    if (refocus) ui.toggleSessions.focus();
  }

  function openDrawer() {
    ui.sidebar.classList.add("open");
    ui.toggleSessions.setAttribute("aria-expanded", "true");
    (ui.sessionList.querySelector(".session-open") || ui.newChat).focus();
  }

  // ------------------------------------------------------------------ start

  function init() {
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (running) {
        running.abort();
        return;
      }
      const question = ui.prompt.value;
      if (!question.trim()) return;
      ui.prompt.value = "";
      ask(question);
    });
    ui.prompt.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        ui.form.requestSubmit();
      }
    });
    for (const button of document.querySelectorAll(".suggestion")) {
      button.addEventListener("click", () => ask(button.textContent));
    }
    ui.newChat.addEventListener("click", newChat);
    ui.toggleSessions.addEventListener("click", openDrawer);
    ui.closeSessions.addEventListener("click", () => closeDrawer({ refocus: true }));
    ui.sidebar.addEventListener("keydown", (event) => {
      if (event.key === "Escape") closeDrawer({ refocus: true });
    });
    ui.keyButton.addEventListener("click", () => askForKey("", null));
    ui.keyDialog.addEventListener("close", onKeyDialogClose);
    ui.keyButton.textContent = read(STORE.key) ? "API key \u2713" : "API key";

    if (sessionId) openSession(sessionId, { quiet: true });
    refreshSessions();
  }

  init();
})();
