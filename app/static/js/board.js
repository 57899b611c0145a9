/* Atelier live board client.
   The server is the source of truth: this client shows exactly the state it receives (snapshot, then
   numbered events), keeps unacknowledged changes (with client-made ids) in localStorage and resends
   them after a reconnect. User text is always inserted with textContent, never innerHTML. */
(function () {
  "use strict";
  var root = document.getElementById("board");
  if (!root || typeof io === "undefined") { return; }
  var boardId = parseInt(root.dataset.boardId, 10);
  var presenter = root.dataset.presenter === "true";
  var T = JSON.parse(document.getElementById("board-texts").textContent);
  var initial = JSON.parse(document.getElementById("board-snapshot").textContent);
  var state = null;
  var pendingKey = "atelier-board-" + boardId + "-pending";
  var pending = loadPending();
  var announcer = document.getElementById("board-announcer");
  var alertBox = document.getElementById("board-alert");
  var newIdeas = 0;
  var announceTimer = null;
  var selected = {};
  var moveTargets = {};  // idea id -> column chosen in its "move" menu, kept across re-renders

  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_m, k) { return values[k]; });
  }
  function plural(n, one, many) {
    return fmt(n === 1 || (n === 0 && T.zero_is_singular) ? one : many, { num: n });
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  function loadPending() {
    try { return JSON.parse(window.localStorage.getItem(pendingKey) || "[]"); } catch (e) { return []; }
  }
  function savePending() {
    try { window.localStorage.setItem(pendingKey, JSON.stringify(pending)); } catch (e) { /* private mode */ }
  }
  function newId() {
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
  }
  function announce(text) {
    if (!announcer) { return; }
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }
  function alertUser(text) {
    if (!alertBox) { return; }
    // Emptied first, so that the same refusal twice in a row is announced twice.
    alertBox.textContent = "";
    window.setTimeout(function () { alertBox.textContent = text; }, 50);
  }
  // Batched, polite: one announcement for ideas arriving close together, never one per keystroke.
  function countNewIdea() {
    newIdeas += 1;
    if (announceTimer) { return; }
    announceTimer = window.setTimeout(function () {
      announce(plural(newIdeas, T.new_ideas_one, T.new_ideas_many));
      newIdeas = 0;
      announceTimer = null;
    }, 3000);
  }

  // ---- state -------------------------------------------------------------------------------------
  function setSnapshot(snap) {
    state = {
      seq: snap.seq, board: snap.board, columns: snap.columns, me: snap.me,
      ideas: {}, hidden: {}, clusters: {}, participants: {}
    };
    snap.ideas.forEach(function (i) { state.ideas[i.id] = i; });
    snap.hidden_ideas.forEach(function (h) { state.hidden[h.id] = h; });
    snap.clusters.forEach(function (c) { state.clusters[c.id] = c; });
    snap.participants.forEach(function (p) { state.participants[p.id] = p; });
    renderAll();
  }

  var handlers = {
    idea_posted: upsertIdea, idea_edited: upsertIdea, idea_moved: upsertIdea, idea_moderated: upsertIdea,
    idea_withdrawn: upsertIdea,
    idea_removed: function (p) { delete state.ideas[p.id]; delete state.hidden[p.id]; },
    idea_placeholder: function (p) { if (!state.ideas[p.id]) { state.hidden[p.id] = p; } },
    ideas_revealed: replaceIdeas, ideas_refreshed: replaceIdeas,
    votes_changed: function (p) { if (state.ideas[p.idea_id]) { state.ideas[p.idea_id].votes = p.votes; } },
    votes_revealed: function (p) {
      Object.keys(p.votes).forEach(function (id) { if (state.ideas[id]) { state.ideas[id].votes = p.votes[id]; } });
    },
    my_dots_changed: function (p) {
      if (state.ideas[p.idea_id]) { state.ideas[p.idea_id].my_dots = p.mine; }
      if (p.dots_left !== undefined) { state.me.dots_left = p.dots_left; }
      else if (p.refunded) { state.me.dots_left += p.refunded; }
    },
    reactions_changed: function (p) { if (state.ideas[p.idea_id]) { state.ideas[p.idea_id].reactions = p.reactions; } },
    phase_changed: function (p) { state.board.phase = p.phase; announce(fmt(T.phase, { phase: T.phases[p.phase] })); },
    timer_changed: function (p) { state.board.timer = p.timer; },
    settings_changed: function (p) {
      // dots left = budget - dots used: a new budget moves it by the difference.
      state.me.dots_left += p.settings.dot_budget - state.board.settings.dot_budget;
      state.board.settings = p.settings;
    },
    focus_changed: function (p) { state.board.focused_idea_id = p.idea_id; },
    columns_changed: function (p) { state.columns = p.columns; },
    ideas_grouped: function (p) {
      state.clusters[p.cluster.id] = p.cluster;
      p.idea_ids.forEach(function (id) { if (state.ideas[id]) { state.ideas[id].cluster_id = p.cluster.id; } });
    },
    ideas_ungrouped: function (p) {
      p.idea_ids.forEach(function (id) { if (state.ideas[id]) { state.ideas[id].cluster_id = null; } });
    },
    cluster_removed: function (p) { delete state.clusters[p.cluster_id]; },
    participant_joined: function (p) { state.participants[p.participant.id] = p.participant; },
    participant_role_changed: function (p) { state.participants[p.participant.id] = p.participant; },
    participant_ready: function (p) {
      if (state.participants[p.participant_id]) { state.participants[p.participant_id].ready = p.ready; }
    },
    participant_removed: function (p) { delete state.participants[p.participant_id]; }
  };

  function upsertIdea(p) {
    var idea = p.idea;
    var known = state.ideas[idea.id];
    if (known && known.mine) { idea.mine = true; }
    if (known && idea.my_dots === undefined) { idea.my_dots = known.my_dots; }
    if (idea.status === "withdrawn" || (!state.me.facilitator && !idea.mine && idea.status !== "visible")) {
      delete state.ideas[idea.id];
    } else {
      if (!known && !idea.mine) { countNewIdea(); }
      state.ideas[idea.id] = idea;
    }
    delete state.hidden[idea.id];
  }
  function replaceIdeas(p) {
    var mine = {};
    Object.keys(state.ideas).forEach(function (id) { if (state.ideas[id].mine) { mine[id] = state.ideas[id]; } });
    state.ideas = mine;
    state.hidden = {};
    p.ideas.forEach(function (i) {
      var own = mine[i.id];
      if (own) { i.mine = true; i.my_dots = own.my_dots; }
      state.ideas[i.id] = i;
    });
  }
  // A change is one seq: its events for this person's audience come together in one `change` message, which
  // names the previous change this audience was sent (`after`); events of the person's own (their idea as they
  // see it, their dots) come just before, in a `private_change` of the same seq, applied right after the change.
  var ownHeld = {};
  function applyEvents(events) {
    events.forEach(function (e) { if (handlers[e.name]) { handlers[e.name](e.payload); } });
  }
  function applyChange(change) {
    if (!state || change.seq <= state.seq) { return true; }  // already applied
    if (change.after > state.seq) { return false; }  // one sent to us before it was lost: the caller resyncs
    applyEvents(change.events);
    applyEvents(ownHeld[change.seq] || []);
    delete ownHeld[change.seq];
    state.seq = change.seq;
    return true;
  }
  function applyOwn(change) {
    if (!state || change.seq <= state.seq) { return; }  // covered by a join's answer
    var audience = state.me.facilitator ? "facilitators" : "participants";
    if (change.with_change_for.indexOf(audience) >= 0) { ownHeld[change.seq] = change.events; return; }
    applyEvents(change.events);  // a change with nothing else for us (a vote while votes are hidden)
    renderAll();
  }

  // ---- rendering ---------------------------------------------------------------------------------
  function phaseIs() { return Array.prototype.indexOf.call(arguments, state.board.phase) >= 0; }

  function ideaButton(label, onClick, cls) {
    var b = el("button", "button button-small " + (cls || "button-secondary"), label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function renderIdea(idea, node) {
    // Someone is typing in this idea's editor: leave it alone (re-rendering would throw the text away).
    if (node && node.dataset.editing === "true" && node.dataset.ideaId === String(idea.id)) { return node; }
    node = node || el("li");
    node.className = "idea idea-" + idea.status + (idea.mine ? " idea-mine" : "") +
      (state.board.focused_idea_id === idea.id ? " idea-focused" : "");
    node.dataset.ideaId = idea.id;
    node.id = "idea-" + idea.id;
    var keepFocus = node.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    node.textContent = "";
    var textNode = el("p", "idea-text", idea.text);
    textNode.id = "idea-text-" + (idea.id || idea.client_id || "pending");
    node.appendChild(textNode);
    var meta = [idea.author || T.anonymous];
    if (idea.mine) { meta.push(T.mine); }
    if (idea.votes !== undefined) { meta.push(plural(idea.votes, T.votes_one, T.votes_many)); }
    if (idea.cluster_id && state.clusters[idea.cluster_id]) { meta.push("« " + state.clusters[idea.cluster_id].name + " »"); }
    if (idea.status !== "visible") { meta.push(T.statuses[idea.status] || idea.status); }
    if (idea.pending) { meta.push(T.pending); }
    node.appendChild(el("p", "idea-meta", meta.join(" · ")));
    if (presenter || idea.pending) { return node; }
    var actions = el("div", "idea-actions");
    var writable = state.board.phase !== "closed" && (!state.board.settings.locked || state.me.facilitator);
    if (writable && phaseIs("voting") && idea.status === "visible") {
      actions.appendChild(key(ideaButton("+ " + T.vote_add, function () { send("vote", { idea_id: idea.id, delta: 1 }); }, "button-secondary"), "vote+" + idea.id));
      if (idea.my_dots) {
        actions.appendChild(key(ideaButton("− " + T.vote_remove + " (" + idea.my_dots + ")", function () { send("vote", { idea_id: idea.id, delta: -1 }); }), "vote-" + idea.id));
      }
    }
    if (writable && idea.status === "visible") {
      Object.keys(T.reactions).forEach(function (kind) {
        var n = (idea.reactions && idea.reactions[kind]) || 0;
        var b = ideaButton(T.reactions[kind] + (n ? " " + n : ""), function () { send("react", { idea_id: idea.id, kind: kind, on: true }); });
        actions.appendChild(key(b, "react-" + kind + idea.id));
      });
    }
    if (writable && idea.mine && phaseIs("brainstorm")) {
      actions.appendChild(key(ideaButton(T.edit, function () { editIdea(idea, node); }), "edit" + idea.id));
      actions.appendChild(key(ideaButton(T.withdraw, function () { send("withdraw_idea", { idea_id: idea.id }); }), "withdraw" + idea.id));
    }
    if (state.me.facilitator && writable) { facilitatorActions(idea, actions); }
    // Many ideas have the same buttons: each one is described by its idea's text.
    Array.prototype.forEach.call(actions.querySelectorAll("button, select, input"), function (control) {
      control.setAttribute("aria-describedby", textNode.id);
    });
    node.appendChild(actions);
    if (keepFocus) {
      var again = node.querySelector('[data-key="' + keepFocus + '"]');
      if (again) { again.focus(); }
    }
    return node;
  }
  function key(node, k) { node.dataset.key = k; return node; }

  function facilitatorActions(idea, actions) {
    // Moving uses a menu, not only drag and drop: choose a column, then "Déplacer".
    var select = el("select");
    select.setAttribute("aria-label", T.move_to);
    var target = moveTargets[idea.id] !== undefined ? moveTargets[idea.id] : idea.column_id;
    state.columns.forEach(function (c) {
      var o = el("option", null, c.title); o.value = c.id; if (c.id === target) { o.selected = true; }
      select.appendChild(o);
    });
    select.addEventListener("change", function () { moveTargets[idea.id] = parseInt(select.value, 10); });
    key(select, "movesel" + idea.id);
    actions.appendChild(select);
    actions.appendChild(key(ideaButton(T.move, function () {
      delete moveTargets[idea.id];
      send("move_idea", { idea_id: idea.id, column_id: parseInt(select.value, 10) });
    }), "move" + idea.id));
    var box = el("input"); box.type = "checkbox"; box.id = "select-" + idea.id; box.checked = !!selected[idea.id];
    box.addEventListener("change", function () { if (box.checked) { selected[idea.id] = true; } else { delete selected[idea.id]; } });
    var label = el("label", null, T.group); label.htmlFor = box.id;
    actions.appendChild(key(box, "sel" + idea.id)); actions.appendChild(label);
    if (idea.cluster_id) {
      actions.appendChild(key(ideaButton(T.ungroup, function () { send("ungroup", { idea_ids: [idea.id] }); }), "ungroup" + idea.id));
    }
    if (idea.status === "pending") {
      actions.appendChild(key(ideaButton(T.approve, function () { send("moderate_idea", { idea_id: idea.id, action: "approve" }); }, "button-secondary"), "approve" + idea.id));
    }
    if (idea.status === "visible") {
      actions.appendChild(key(ideaButton(T.focus, function () { send("focus_idea", { idea_id: idea.id }); }), "focus" + idea.id));
      actions.appendChild(key(ideaButton(T.hide, function () {
        var reason = window.prompt(T.hide_reason);
        if (reason) { send("moderate_idea", { idea_id: idea.id, action: "hide", reason: reason }); }
      }), "hide" + idea.id));
    }
  }

  function editIdea(idea, node) {
    node.dataset.editing = "true";
    node.textContent = "";
    var area = el("textarea"); area.value = idea.text; area.maxLength = 500; area.id = "edit-" + idea.id;
    var label = el("label", "visually-hidden", T.edit); label.htmlFor = area.id;
    node.appendChild(label); node.appendChild(area);
    node.appendChild(ideaButton(T.save, function () {
      delete node.dataset.editing;
      send("edit_idea", { idea_id: idea.id, text: area.value, version: idea.version });
    }, "button"));
    node.appendChild(ideaButton(T.cancel, function () { delete node.dataset.editing; renderAll(); }));
    area.focus();
  }

  function renderAll() {
    if (!state) { return; }
    var phaseNode = document.getElementById("board-phase");
    if (phaseNode) { phaseNode.textContent = T.phases[state.board.phase]; phaseNode.dataset.phase = state.board.phase; }
    var count = document.getElementById("participant-count");
    if (count) {
      var n = Object.keys(state.participants).length;
      count.textContent = plural(n, T.participants_one, T.participants_many);
    }
    var dots = document.getElementById("dots-left");
    if (dots) { dots.textContent = state.me.dots_left; }
    renderTimer();
    if (presenter) { renderPresenter(); return; }
    var pendingIdeas = pending.filter(function (c) { return c.event === "post_idea"; });
    state.columns.forEach(function (column) {
      var section = document.querySelector('[data-column-id="' + column.id + '"]');
      if (!section) { return; }
      var list = section.querySelector("ul.ideas");
      var ideas = Object.keys(state.ideas).map(function (id) { return state.ideas[id]; })
        .filter(function (i) { return i.column_id === column.id; })
        .sort(function (a, b) { return a.sort_key < b.sort_key ? -1 : a.sort_key > b.sort_key ? 1 : a.id - b.id; });
      var existing = {};
      Array.prototype.forEach.call(list.children, function (li) { existing[li.dataset.ideaId || li.dataset.clientId] = li; });
      var wanted = [];
      ideas.forEach(function (idea) { wanted.push(renderIdea(idea, existing[idea.id])); delete existing[idea.id]; });
      pendingIdeas.filter(function (c) { return c.payload.column_id === column.id; }).forEach(function (c) {
        var node = existing[c.payload.client_id] || el("li");
        node.dataset.clientId = c.payload.client_id;
        delete existing[c.payload.client_id];
        renderIdea({ id: 0, text: c.payload.text, status: "visible", mine: true, pending: true, author: null }, node);
        node.removeAttribute("id"); delete node.dataset.ideaId; node.dataset.clientId = c.payload.client_id;
        wanted.push(node);
      });
      Object.keys(existing).forEach(function (k) { existing[k].remove(); });
      wanted.forEach(function (node, index) {
        if (list.children[index] !== node) { list.insertBefore(node, list.children[index] || null); }
      });
      var hiddenCount = Object.keys(state.hidden).filter(function (id) { return state.hidden[id].column_id === column.id; }).length;
      var hiddenNode = section.querySelector(".hidden-count");
      if (hiddenNode) {
        hiddenNode.hidden = hiddenCount === 0;
        hiddenNode.textContent = plural(hiddenCount, T.hidden_count_one, T.hidden_count_many);
      }
    });
    var form = document.getElementById("idea-form");
    if (form) { form.hidden = !(state.board.phase === "brainstorm" || state.me.facilitator) || state.board.phase === "closed"; }
  }

  function renderPresenter() {
    var box = document.getElementById("focused-idea");
    if (!box) { return; }
    var idea = state.ideas[state.board.focused_idea_id];
    box.textContent = "";
    if (idea) { box.appendChild(el("p", null, idea.text)); }
  }

  function two(n) { return (n < 10 ? "0" : "") + n; }
  function clock(seconds) { return Math.floor(seconds / 60) + ":" + two(seconds % 60); }
  var timerDone = false;
  function renderTimer() {
    var node = document.getElementById("board-timer");
    if (!node || !state) { return; }
    var t = state.board.timer || {};
    if (t.ends_at) {
      var left = Math.max(0, Math.round((Date.parse(t.ends_at) - Date.now()) / 1000));
      node.textContent = left > 0 ? fmt(T.timer_left, { time: clock(left) }) : T.timer_done;
      if (left === 0 && !timerDone) { timerDone = true; announce(T.timer_done); }
      if (left > 0) { timerDone = false; }
    } else if (t.paused_seconds !== null && t.paused_seconds !== undefined) {
      node.textContent = fmt(T.timer_paused, { time: clock(t.paused_seconds) });
    } else {
      node.textContent = "";
    }
  }
  window.setInterval(renderTimer, 1000);

  // ---- sending -----------------------------------------------------------------------------------
  // Long-polling when a network lets no websocket through (socket.io-client tries it only when told to).
  var socket = io("/boards", { transports: ["websocket", "polling"], tryAllTransports: true });

  function send(event, fields) {
    var change = { event: event, payload: Object.assign({ board_id: boardId, client_id: newId() }, fields) };
    pending.push(change);
    savePending();
    renderAll();
    if (socket.connected) { emit(change); }
  }
  function emit(change) {
    socket.timeout(10000).emit(change.event, change.payload, function (err, ack) {
      if (err) { return; }  // no answer: kept, resent after the reconnect
      pending = pending.filter(function (c) { return c.payload.client_id !== change.payload.client_id; });
      savePending();
      if (ack && !ack.ok && ack.error) { alertUser(ack.error.message); }
      if (ack && ack.ok && change.event === "post_idea" && ack.idea_id && state.ideas[ack.idea_id]) {
        state.ideas[ack.idea_id].mine = true;
      }
      renderAll();
    });
  }

  var status = document.getElementById("connection-status");
  function showStatus(text) { if (status) { status.hidden = false; status.textContent = text; } }

  // While joining, live events are held back: they may overtake the join answer, and applying them
  // first would make the answer's missed (older) events look already seen.
  var joining = true;
  var held = [];
  function join() {
    joining = true;
    held = [];
    ownHeld = {};
    socket.emit("join_board", { board_id: boardId, last_seq: state ? state.seq : null }, function (ack) {
      if (!ack || !ack.ok) { if (ack && ack.error) { alertUser(ack.error.message); } return; }
      if (ack.snapshot) { setSnapshot(ack.snapshot); }
      else {
        ack.changes.forEach(function (c) { applyEvents(c.events); });
        state.seq = ack.seq;
      }
      joining = false;
      var waiting = held;
      held = [];
      // What arrived during the join: a change the answer covered is skipped; after a lost one, join again.
      var caughtUp = waiting.every(function (item) {
        if (item[0] === "own") { applyOwn(item[1]); return true; }
        return applyChange(item[1]);
      });
      if (!caughtUp) {
        join();
        return;
      }
      renderAll();
      showStatus(T.connected);
      pending.slice().forEach(emit);  // resend what was never acknowledged, same client ids
    });
  }
  socket.on("connect", join);
  socket.on("disconnect", function () { joining = true; showStatus(T.offline); });
  // The server accepts live connections from its public address only (BASE_URL): a page opened at another
  // address (another port, a name instead of a number) is refused at every try. Say so instead of retrying.
  // The server also refuses, with its reason, a connection whose session does not hold for it.
  socket.on("connect_error", function (err) {
    var why;
    if (err && err.data && err.data.code) { why = err.message; }
    else if (window.location.origin !== T.live_origin) {
      why = fmt(T.origin_refused, { here: window.location.origin, expected: T.live_origin });
    } else { return; }  // the server is unreachable: keep trying
    socket.disconnect();
    showStatus(why);
    alertUser(why);
  });
  socket.io.on("reconnect_attempt", function () { showStatus(T.reconnecting); });
  socket.on("session_ended", function (p) {
    socket.disconnect();
    // The person's role changed: the page (controls, audience) is rebuilt for the new one.
    if (p.reason === "role_changed") { window.location.reload(); return; }
    alertUser(p.reason === "removed" ? T.removed : T.signed_out);
  });
  socket.on("change", function (change) {
    if (joining) { held.push(["change", change]); return; }
    if (!applyChange(change)) { join(); return; }  // a change was lost on the way: catch up from our seq
    renderAll();
  });
  // Every few seconds, the board's latest seq: behind it, a change was lost on the way (say, between two server
  // processes). The change itself may still be on its way: look again a moment later, then catch up.
  socket.on("board_seq", function (p) {
    if (!state || p.board_id !== boardId || p.seq <= state.seq) { return; }
    window.setTimeout(function () { if (!joining && state.seq < p.seq) { join(); } }, 1000);
  });
  socket.on("private_change", function (change) {
    if (joining) { held.push(["own", change]); } else { applyOwn(change); }
  });

  // ---- forms and controls ------------------------------------------------------------------------
  var form = document.getElementById("idea-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = form.querySelector("textarea");
      var column = form.querySelector("select");
      if (!text.value.trim()) { alertUser(T.empty || ""); text.focus(); return; }
      send("post_idea", { column_id: parseInt(column.value, 10), text: text.value.trim() });
      text.value = "";
      text.focus();  // keep the person where they were typing
    });
  }
  var controls = document.getElementById("live-controls");
  if (controls) {
    controls.hidden = false;
    Array.prototype.forEach.call(document.querySelectorAll("[data-no-js]"), function (n) { n.hidden = true; });
    controls.addEventListener("click", function (event) {
      var action = event.target.dataset.action;
      if (!action) { return; }
      var minutes = parseInt(document.getElementById("timer-minutes").value, 10) || 1;
      if (action === "set-phase") { send("set_phase", { phase: document.getElementById("phase-select").value }); }
      if (action === "timer-start") { send("control_timer", { action: "start", seconds: minutes * 60 }); }
      if (action === "timer-pause") { send("control_timer", { action: "pause" }); }
      if (action === "timer-resume") { send("control_timer", { action: "resume" }); }
      if (action === "timer-add") { send("control_timer", { action: "add", seconds: 60 }); }
      if (action === "group") {
        var name = document.getElementById("group-name");
        var ids = Object.keys(selected).map(Number);
        if (ids.length && name && name.value.trim()) { send("group_ideas", { idea_ids: ids, name: name.value.trim() }); selected = {}; name.value = ""; }
      }
    });
    controls.addEventListener("change", function (event) {
      var name = event.target.dataset.setting;
      if (!name) { return; }
      var value;
      if (name === "moderation") { value = event.target.checked ? "approve" : "none"; }
      else if (event.target.type === "checkbox") { value = event.target.checked; }
      else { value = event.target.value === "" ? null : parseInt(event.target.value, 10); }
      var settings = {}; settings[name] = value;
      send("update_settings", { settings: settings });
    });
  }
  setSnapshot(initial);
})();
