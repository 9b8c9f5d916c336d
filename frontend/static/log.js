// The deployment page's live log (see deployment.html): an EventSource on the logs API.
//
// Lines are built from DOM nodes and textContent only, never HTML from the log; ANSI colours
// become spans with classes (the page's CSP allows no inline style). Every record carries its
// cursor (data-cursor): a repeat is dropped, a hole makes the viewer reconnect after the last
// cursor it holds, so a network drop or a server restart neither loses nor repeats a line.
// The page opens at the tail of the log, loads earlier chunks on demand, and keeps the DOM
// bounded, dropping the oldest rows (which "Load earlier lines" brings back).
"use strict";

(() => {
  const TAIL = 1000; // records shown when the page opens
  const CHUNK = 1000; // records each "Load earlier lines" fetches
  const LIVE_CAP = 5000; // rows kept while following the end of the log
  const HARD_CAP = 50000; // rows kept at most, even while the reader scrolls back
  const NEAR_BOTTOM = 40; // px from the bottom that still counts as following
  const MAX_RETRY_MS = 15000;
  const UP_KEYS = new Set(["ArrowUp", "PageUp", "Home"]);

  // ESC sequences: CSI (group 1: parameters, group 2: final byte), OSC, two-byte escapes.
  const ESCAPE = /\x1b(?:\[([0-?]*)[ -\/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])?/g;
  const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
  // The 16 colours' RGB, to bring 256-colour and truecolour codes to the nearest class.
  const PALETTE = [
    [0, 0, 0], [205, 49, 49], [13, 188, 121], [229, 229, 16], [36, 114, 200], [188, 63, 188],
    [17, 168, 205], [229, 229, 229], [102, 102, 102], [241, 76, 76], [35, 209, 139],
    [245, 245, 67], [59, 142, 234], [214, 112, 214], [41, 184, 219], [255, 255, 255],
  ];

  function nearest(r, g, b) {
    let best = 0;
    let distance = Infinity;
    PALETTE.forEach(([pr, pg, pb], index) => {
      const d = (r - pr) ** 2 + (g - pg) ** 2 + (b - pb) ** 2;
      if (d < distance) [best, distance] = [index, d];
    });
    return best;
  }

  function color256(n) {
    if (!(n >= 0 && n <= 255)) return null;
    if (n < 16) return n;
    if (n >= 232) {
      const v = 8 + (n - 232) * 10;
      return nearest(v, v, v);
    }
    const steps = [0, 95, 135, 175, 215, 255];
    const i = n - 16;
    return nearest(steps[Math.floor(i / 36)], steps[Math.floor(i / 6) % 6], steps[i % 6]);
  }

  function applySgr(state, params) {
    const codes = params === "" ? [0] : params.split(/[;:]/).map((p) => (p === "" ? 0 : Number(p)));
    for (let i = 0; i < codes.length; i++) {
      const code = codes[i];
      if (code === 0) Object.assign(state, { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false });
      else if (code === 1) state.bold = true;
      else if (code === 2) state.dim = true;
      else if (code === 3) state.italic = true;
      else if (code === 4) state.underline = true;
      else if (code === 22) state.bold = state.dim = false;
      else if (code === 23) state.italic = false;
      else if (code === 24) state.underline = false;
      else if (code >= 30 && code <= 37) state.fg = code - 30;
      else if (code === 39) state.fg = null;
      else if (code >= 40 && code <= 47) state.bg = code - 40;
      else if (code === 49) state.bg = null;
      else if (code >= 90 && code <= 97) state.fg = code - 90 + 8;
      else if (code >= 100 && code <= 107) state.bg = code - 100 + 8;
      else if (code === 38 || code === 48) {
        let value = null;
        if (codes[i + 1] === 5) {
          value = color256(codes[i + 2]);
          i += 2;
        } else if (codes[i + 1] === 2) {
          value = nearest(codes[i + 2] || 0, codes[i + 3] || 0, codes[i + 4] || 0);
          i += 4;
        }
        if (code === 38) state.fg = value;
        else state.bg = value;
      }
    }
  }

  function classes(state) {
    const names = [];
    if (state.fg !== null) names.push(`ansi-fg-${state.fg}`);
    if (state.bg !== null) names.push(`ansi-bg-${state.bg}`);
    for (const flag of ["bold", "dim", "italic", "underline"]) if (state[flag]) names.push(`ansi-${flag}`);
    return names;
  }

  function visible(text) {
    return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  }

  // A line's text into `el`: text nodes, and spans with classes where ANSI SGR codes say so.
  // Colours start afresh on each line; other escape sequences are dropped.
  function renderAnsi(el, line) {
    const state = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };
    let at = 0;
    const put = (text) => {
      if (!text) return;
      const names = classes(state);
      if (!names.length) {
        el.appendChild(document.createTextNode(visible(text)));
        return;
      }
      const span = document.createElement("span");
      span.className = names.join(" ");
      span.textContent = visible(text);
      el.appendChild(span);
    };
    ESCAPE.lastIndex = 0;
    for (let match = ESCAPE.exec(line); match; match = ESCAPE.exec(line)) {
      put(line.slice(at, match.index));
      if (match[2] === "m") applySgr(state, match[1]);
      at = ESCAPE.lastIndex;
    }
    put(line.slice(at));
  }

  // Server-Sent Events of a finished response: [{event, data, id}], pings skipped.
  function parseEvents(text) {
    const events = [];
    let event = "message";
    let data = [];
    let id = "";
    for (const line of text.split(/\r\n|\r|\n/)) {
      if (line === "") {
        if (data.length) events.push({ event, data: data.join("\n"), id });
        event = "message";
        data = [];
        id = "";
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (name === "event") event = value;
      else if (name === "data") data.push(value);
      else if (name === "id") id = value;
    }
    return events;
  }

  function stageText(data) {
    let stage;
    try {
      stage = JSON.parse(data);
    } catch {
      return { text: data, status: "" };
    }
    const name = String(stage.name);
    const status = String(stage.status);
    if (status === "running") return { text: `▶ ${name} · attempt ${stage.attempt}`, status, start: true };
    if (status === "awaiting_approval") return { text: `◆ ${name} · awaiting approval`, status, start: true };
    return { text: `${name} ${status.replace(/_/g, " ")}`, status };
  }

  // The summary (header, timeline, buttons) listens for this to refresh itself.
  function changed() {
    document.body.dispatchEvent(new CustomEvent("deployment-changed", { bubbles: true }));
  }

  class LogView {
    constructor(root) {
      this.root = root;
      this.url = root.dataset.log;
      this.scroller = root.querySelector(".log-scroll");
      this.lines = root.querySelector(".log-lines");
      this.head = root.querySelector(".log-head");
      this.earlierButton = root.querySelector(".log-earlier");
      this.note = root.querySelector(".log-note");
      this.liveButton = root.querySelector(".log-live");
      this.state = root.querySelector(".log-state");
      const card = root.closest(".log-card") || document;
      this.filter = card.querySelector(".log-filter");
      this.count = card.querySelector(".log-count");
      this.first = null; // the oldest cursor shown
      this.last = null; // the newest cursor received
      this.pending = []; // runs of consecutive records not yet shown: {kind, first, items}
      this.following = true;
      this.finished = false;
      this.closed = false;
      this.retries = 0;
      this.gaps = 0;
      this.query = "";
      this.lastTop = 0;
      root.classList.add("live");
      if (this.filter) this.filter.hidden = false;
      this.scroller.addEventListener("scroll", () => this.scrolled(), { passive: true });
      // Stop following as soon as the reader means to scroll up, before any scroll event: a
      // line arriving in between would otherwise pull the view back down.
      const away = () => this.stopFollowing();
      this.scroller.addEventListener("wheel", (event) => event.deltaY < 0 && away(), { passive: true });
      this.scroller.addEventListener("touchmove", away, { passive: true });
      this.scroller.addEventListener("keydown", (event) => UP_KEYS.has(event.key) && away());
      this.liveButton.addEventListener("click", () => this.jumpToLive());
      this.earlierButton.addEventListener("click", () => this.loadEarlier());
      if (this.filter) {
        let timer = null;
        this.filter.addEventListener("input", () => {
          clearTimeout(timer);
          timer = setTimeout(() => this.applyFilter(this.filter.value), 120);
        });
      }
      this.say("Connecting…");
      this.open(`${this.url}?batch=1&tail=${TAIL}`);
    }

    open(url) {
      const source = new EventSource(url);
      this.source = source;
      source.addEventListener("open", () => {
        this.retries = 0;
        if (!this.finished) this.say("Live");
      });
      source.addEventListener("lines", (event) => this.received(source, event, "lines"));
      source.addEventListener("log", (event) => this.received(source, event, "log"));
      source.addEventListener("stage", (event) => this.received(source, event, "stage"));
      source.addEventListener("done", (event) => this.done(source, event));
      source.addEventListener("error", () => this.dropped(source));
    }

    alive() {
      if (this.root.isConnected) return true;
      this.close();
      return false;
    }

    close() {
      this.closed = true;
      clearTimeout(this.retryTimer);
      if (this.source) this.source.close();
      viewers.delete(this);
    }

    // Leaving the page (it may come back from the back-forward cache): stop reading for now.
    pause() {
      clearTimeout(this.retryTimer);
      if (this.source) this.source.close();
    }

    resume() {
      if (!this.finished && !this.closed) this.reopen(0);
    }

    // Reconnect after the newest cursor held: nothing lost, nothing repeated.
    reopen(delay) {
      if (this.source) this.source.close();
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        if (this.closed || this.finished || !this.alive()) return;
        const from = this.last === null ? `tail=${TAIL}` : `after=${this.last}`;
        this.open(`${this.url}?batch=1&${from}`);
      }, delay);
    }

    dropped(source) {
      if (source !== this.source || this.finished || this.closed) return;
      this.say("Connection lost; reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an error answer): try again ourselves, more slowly each time.
        this.retries += 1;
        this.reopen(Math.min(1000 * 2 ** (this.retries - 1), MAX_RETRY_MS));
      }
    }

    // An event's records: one (`log`, `stage`), or a run of lines (`lines`, whose id is the
    // cursor of the last).
    received(source, event, kind) {
      if (source !== this.source || !this.alive()) return;
      const last = Number(event.lastEventId);
      if (!Number.isSafeInteger(last) || last < 1) return;
      let items = kind === "lines" ? event.data.split("\n") : [event.data];
      let first = last - items.length + 1;
      if (this.last !== null) {
        if (last <= this.last) return; // a repeat
        if (first > this.last + 1) {
          // A hole: read again after the last cursor held (and accept it if it stays).
          this.gaps += 1;
          if (this.gaps <= 3) {
            this.reopen(0);
            return;
          }
          this.queue("gap", this.last + 1, [`${first - this.last - 1} records missing`]);
        } else if (first <= this.last) {
          items = items.slice(this.last + 1 - first);
          first = this.last + 1;
        }
      }
      this.gaps = 0;
      this.last = last;
      if (this.first === null) this.first = first;
      this.queue(kind === "stage" ? "stage" : "log", first, items);
      if (kind === "stage") changed();
    }

    queue(kind, first, items) {
      this.pending.push({ kind, first, items });
      this.schedule();
    }

    done(source, event) {
      if (source !== this.source) return;
      this.finished = true;
      source.close();
      let status = "";
      try {
        status = String(JSON.parse(event.data).status);
      } catch {
        status = "";
      }
      this.say(status ? `Finished: ${status}` : "Finished");
      this.flush();
      changed();
    }

    say(text) {
      this.state.textContent = text;
    }

    schedule() {
      if (this.timer) return;
      this.timer = setTimeout(() => this.flush(), 50);
    }

    row(kind, cursor, data) {
      const el = document.createElement("div");
      if (kind !== "gap") el.dataset.cursor = String(cursor);
      if (kind === "log") {
        el.className = "line";
        renderAnsi(el, data);
      } else if (kind === "stage") {
        const stage = stageText(data);
        el.className = `mark ${stage.start ? "mark-start" : "mark-end"} ${stage.status}`;
        el.textContent = stage.text;
      } else {
        el.className = "mark gap";
        el.textContent = data;
      }
      if (this.query && kind === "log" && !this.matches(el)) el.classList.add("filtered");
      return el;
    }

    // Rows for runs of records: only the last `cap` of them (the rest would be dropped).
    rows(runs, cap) {
      let skip = Math.max(0, runs.reduce((n, run) => n + run.items.length, 0) - cap);
      const fragment = document.createDocumentFragment();
      for (const run of runs) {
        if (skip >= run.items.length) {
          skip -= run.items.length;
          continue;
        }
        for (let i = skip; i < run.items.length; i++) {
          fragment.appendChild(this.row(run.kind, run.first + i, run.items[i]));
        }
        skip = 0;
      }
      return fragment;
    }

    matches(el) {
      return el.textContent.toLowerCase().includes(this.query);
    }

    flush() {
      clearTimeout(this.timer);
      this.timer = null;
      if (!this.pending.length || !this.alive()) return;
      this.removeStatic();
      const cap = this.following ? LIVE_CAP : HARD_CAP;
      const runs = this.pending;
      this.pending = [];
      this.lines.appendChild(this.rows(runs, cap));
      this.trim(cap);
      if (this.following) this.toBottom();
      else this.liveButton.hidden = false;
      this.updateHead();
      if (this.query) this.showCount();
    }

    removeStatic() {
      for (const el of this.root.querySelectorAll(".log-static, .log-static-note")) el.remove();
    }

    // Drop the oldest rows past `cap`, keeping what the reader looks at in place.
    trim(cap) {
      const extra = this.lines.childElementCount - cap;
      if (extra <= 0) return;
      const before = this.scroller.scrollHeight;
      const range = document.createRange();
      range.setStartBefore(this.lines.firstElementChild);
      range.setEndAfter(this.lines.children[extra - 1]);
      range.deleteContents();
      this.place(this.scroller.scrollTop - (this.following ? 0 : before - this.scroller.scrollHeight));
    }

    firstShown() {
      for (const el of this.lines.children) if (el.dataset.cursor) return Number(el.dataset.cursor);
      return this.first;
    }

    updateHead() {
      this.first = this.firstShown();
      const more = this.first !== null && this.first > 1;
      this.head.hidden = !more;
      this.earlierButton.hidden = !more;
      this.note.textContent = more ? `Lines before #${this.first} are not shown.` : "";
    }

    async loadEarlier() {
      if (this.loading || !(this.first > 1)) return;
      const before = this.first;
      this.loading = true;
      this.earlierButton.disabled = true;
      this.note.textContent = "Loading…";
      try {
        const answer = await fetch(`${this.url}?batch=1&before=${before}&tail=${CHUNK}`, {
          headers: { Accept: "text/event-stream" },
          credentials: "same-origin",
        });
        if (!answer.ok) throw new Error(`the server answered ${answer.status}`);
        const runs = [];
        for (const event of parseEvents(await answer.text())) {
          if (!event.id || !["lines", "log", "stage"].includes(event.event)) continue;
          const items = event.event === "lines" ? event.data.split("\n") : [event.data];
          const first = Number(event.id) - items.length + 1;
          const expected = runs.length ? runs[runs.length - 1].first + runs[runs.length - 1].items.length : first;
          if (first !== expected) throw new Error("the lines came back out of order");
          runs.push({ kind: event.event === "stage" ? "stage" : "log", first, items });
        }
        const end = runs.length ? runs[runs.length - 1].first + runs[runs.length - 1].items.length : before;
        if (end !== before) throw new Error("the lines came back incomplete");
        if (!this.alive() || this.firstShown() !== before) return; // the view moved on meanwhile
        const height = this.scroller.scrollHeight;
        this.lines.insertBefore(this.rows(runs, HARD_CAP), this.lines.firstChild);
        this.place(this.scroller.scrollTop + this.scroller.scrollHeight - height);
        if (!runs.length) this.first = 1;
        this.updateHead();
        if (this.query) this.showCount();
      } catch (error) {
        this.note.textContent = `Could not load earlier lines: ${error.message}`;
      } finally {
        this.loading = false;
        this.earlierButton.disabled = false;
      }
    }

    // Following stops when the reader scrolls up, and starts again at the bottom; a resize or
    // rows dropped at the top (the content moves, not the reader) change nothing.
    scrolled() {
      const { scrollHeight, scrollTop, clientHeight } = this.scroller;
      const up = scrollTop < this.lastTop - 1;
      this.lastTop = scrollTop;
      if (scrollHeight - scrollTop - clientHeight < NEAR_BOTTOM) this.following = true;
      else if (up) this.following = false;
      this.liveButton.hidden = this.following;
    }

    stopFollowing() {
      this.following = false;
      this.liveButton.hidden = false;
    }

    // Scroll there ourselves: the scroll event that follows is not the reader scrolling up.
    place(top) {
      this.scroller.scrollTop = top;
      this.lastTop = this.scroller.scrollTop;
    }

    toBottom() {
      this.place(this.scroller.scrollHeight);
    }

    jumpToLive() {
      this.following = true;
      this.liveButton.hidden = true;
      this.flush();
      this.toBottom();
    }

    applyFilter(value) {
      this.query = value.trim().toLowerCase();
      for (const el of this.lines.children) {
        if (!el.classList.contains("line")) continue;
        el.classList.toggle("filtered", Boolean(this.query) && !this.matches(el));
      }
      this.showCount();
      if (this.following) this.toBottom();
    }

    showCount() {
      if (!this.count) return;
      this.count.hidden = !this.query;
      if (!this.query) return;
      const shown = this.lines.querySelectorAll(".line:not(.filtered)").length;
      this.count.textContent = `${shown} matching`;
    }
  }

  const viewers = new Set();

  function start(scope) {
    if (!scope || !scope.querySelectorAll) return;
    const found = scope.matches && scope.matches("[data-log]") ? [scope] : [];
    for (const el of [...found, ...scope.querySelectorAll("[data-log]")]) {
      if (el.logView) continue;
      el.logView = new LogView(el);
      viewers.add(el.logView);
    }
  }

  document.addEventListener("DOMContentLoaded", () => start(document));
  if (document.readyState !== "loading") start(document);
  document.addEventListener("htmx:load", (event) => start(event.detail.elt));
  // Pages are swapped in by hx-boost: a viewer whose element leaves the page stops reading.
  document.addEventListener("htmx:beforeCleanupElement", (event) => {
    if (event.target.logView) event.target.logView.close();
  });
  document.addEventListener("htmx:afterSettle", () => {
    for (const viewer of [...viewers]) viewer.alive();
  });
  window.addEventListener("pagehide", () => {
    for (const viewer of viewers) viewer.pause();
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) for (const viewer of viewers) viewer.resume();
  });
})();
