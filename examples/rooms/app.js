// The rooms demo page: plays tictactoe.lua (with its chat) or chat.lua in a hangard room.
//
// Query parameters: room=<room id> (none: buttons to open one), token=<player access token>
// (none: a device login, POST /v1/auth/device, which needs hangard's --auth-device 1), name=<a
// nickname for the chat>. The device id is kept in sessionStorage, so each tab is a player of
// its own: open the page twice to play against yourself. Everything goes to the origin that
// served the page (hangard's /examples/), so the API and the room socket need no CORS.
"use strict";

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const page = {
  token: params.get("token") || "",
  me: "",            // my player id (the welcome's "you")
  room: params.get("room") || "",
  script: "",        // "tictactoe" | "chat"
  ws: null,
  state: null,       // the last tic-tac-toe state
  names: {},         // chat: player id -> nickname
  closed: false,     // the room is gone or we were kicked: no reconnect
  retries: 0,        // reconnects since the last welcome
};

function setStatus(text, phase) {
  $("status").textContent = text;
  if (phase) document.body.dataset.phase = phase;
}

function note(text) { addLine(null, text); }

function addLine(who, text) {
  const li = document.createElement("li");
  if (who === null) {
    li.className = "note";
    li.textContent = text;
  } else {
    const b = document.createElement("b");
    b.textContent = who + ": ";
    li.append(b, document.createTextNode(text));
  }
  $("log").append(li);
  $("log").scrollTop = $("log").scrollHeight;
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (page.token) headers.Authorization = "Bearer " + page.token;
  const r = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const out = await r.json().catch(() => ({}));
  if (!r.ok) {
    const msg = (out.error && out.error.message) || r.statusText;
    throw new Error(method + " " + path + ": " + r.status + " " + msg);
  }
  return out;
}

async function login() {
  if (page.token) return;
  let device = sessionStorage.getItem("hangar-device");
  if (!device) {
    const rnd = new Uint8Array(12);
    crypto.getRandomValues(rnd);
    device = "web-" + Array.from(rnd, (b) => b.toString(16).padStart(2, "0")).join("");
    sessionStorage.setItem("hangar-device", device);
  }
  const body = { device_id: device };
  if (params.get("name")) body.display_name = params.get("name");
  const out = await api("POST", "/v1/auth/device", body);
  page.token = out.token;
}

async function openRoom(script) {
  const out = await api("POST", "/v1/rooms", { script });
  const url = new URL(location.href);
  url.searchParams.set("room", out.room_id);
  history.replaceState(null, "", url);
  page.room = out.room_id;
  await enter();
}

function send(type, data) {
  if (page.ws && page.ws.readyState === WebSocket.OPEN)
    page.ws.send(JSON.stringify(data === undefined ? { type } : { type, data }));
}

// ---- tic-tac-toe ----

function myMark(st) {
  if (!st) return null;
  if (st.x === page.me) return "X";
  if (st.o === page.me) return "O";
  return null;
}

function who(id) {
  if (page.script === "chat") return page.names[id] || id.slice(0, 8);
  const st = page.state;
  const m = st ? (id === st.x ? "X" : id === st.o ? "O" : "") : "";
  if (id === page.me) return m ? "you (" + m + ")" : "you";
  return m || "player " + id.slice(0, 6);
}

function drawBoard(st) {
  page.state = st;
  const mark = myMark(st);
  const cells = document.querySelectorAll(".cell");
  cells.forEach((c, i) => {
    c.textContent = st.board[i];
    c.classList.toggle("win", !!(st.line && st.line.includes(i)));
    c.disabled = !(st.phase === "playing" && mark === st.turn && st.board[i] === "");
  });
  $("you").textContent = mark ? mark : "watching";
  $("score").textContent = "X " + st.score.X + " · O " + st.score.O + " · draws " + st.score.draw;
  let text;
  if (st.phase === "waiting") text = "Waiting for a second player";
  else if (st.phase === "playing")
    text = mark === st.turn ? "Your turn (" + mark + ")" : st.turn + " to play";
  else if (st.winner === "draw") text = "Draw";
  else text = st.winner + " wins" + (st.reason === "forfeit" ? " (the other player left)" : "")
    + (mark ? (mark === st.winner ? ": you win!" : ": you lose") : "");
  if (st.phase === "over" && mark && st.rematch[mark]) text += " · rematch asked";
  setStatus(text, st.phase);
  document.body.dataset.winner = st.winner || "";
  document.body.dataset.mark = mark || "";
  $("rematch").hidden = !(st.phase === "over" && mark && st.x && st.o);
  $("rematch").disabled = !!(mark && st.rematch[mark]);
  $("sit").hidden = !!mark || !!(st.x && st.o);
}

// ---- the room socket ----

function onMessage(m) {
  switch (m.type) {
    case "welcome":
      page.retries = 0;
      page.me = m.you;
      document.body.dataset.me = m.you;
      send("hello", params.get("name") ? { name: params.get("name") } : undefined);
      return;
    case "state": drawBoard(m.data); return;
    case "refused": note("refused: " + m.data.reason); return;
    case "said":
      addLine(page.script === "chat" ? m.data.name : who(m.from), m.data.text);
      return;
    case "history":
      page.names = m.data.names || {};
      (Array.isArray(m.data.lines) ? m.data.lines : []).forEach((l) => addLine(l.name, l.text));
      setStatus("Chatting as " + who(page.me), "chat");
      return;
    case "nick":
      page.names[m.from] = m.data.name;
      note((m.data.old || m.from.slice(0, 8)) + " is now " + m.data.name);
      if (m.from === page.me) setStatus("Chatting as " + m.data.name, "chat");
      return;
    case "kicked": note(m.data.name + " was kicked by " + m.data.by); return;
    case "join": note(who(m.from) + " joined"); return;
    case "leave": note(who(m.from) + " left"); return;
    case "error": note("error: " + m.data.message); return;
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + "/v1/rooms/" + encodeURIComponent(page.room)
    + "?token=" + encodeURIComponent(page.token));
  page.ws = ws;
  ws.onmessage = (ev) => { if (typeof ev.data === "string") onMessage(JSON.parse(ev.data)); };
  ws.onclose = (ev) => {
    if (page.ws !== ws) return;
    const why = { 4004: "the room was closed", 4010: "you were kicked", 4011: "this player connected elsewhere" }[ev.code];
    if (why || page.closed) {
      page.closed = true;
      setStatus("Disconnected: " + (why || ev.reason || ev.code), "closed");
      return;
    }
    if (++page.retries > 5) { // refused (403), full (409) or gone (404): a browser cannot tell
      setStatus("Cannot join this room (refused, full or closed)", "closed");
      return;
    }
    setStatus("Connection lost (" + ev.code + "); reconnecting…", "reconnecting");
    setTimeout(connect, 1000);
  };
}

async function enter() {
  const room = await api("GET", "/v1/rooms/" + encodeURIComponent(page.room));
  page.script = room.script || "";
  const link = $("room-link");
  link.textContent = page.room.slice(0, 8);
  link.href = location.pathname + "?room=" + encodeURIComponent(page.room);
  $("lobby").hidden = true;
  $("game").hidden = page.script !== "tictactoe";
  $("chat").hidden = false;
  setStatus("Joining…", "joining");
  connect();
}

function wire() {
  $("board").addEventListener("click", (ev) => {
    const cell = ev.target.closest(".cell");
    if (cell && !cell.disabled) send("move", { cell: Number(cell.dataset.cell) });
  });
  $("rematch").addEventListener("click", () => send("rematch"));
  $("sit").addEventListener("click", () => send("hello"));
  $("chat-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("chat-input").value.trim();
    if (text) send("say", { text });
    $("chat-input").value = "";
  });
  $("new-tictactoe").addEventListener("click", () => openRoom("tictactoe").catch(fail));
  $("new-chat").addEventListener("click", () => openRoom("chat").catch(fail));
}

function fail(e) { setStatus(String(e.message || e), "error"); }

async function main() {
  wire();
  await login();
  if (!page.room) {
    $("lobby").hidden = false;
    setStatus("Logged in; pick a room", "lobby");
    return;
  }
  await enter();
}

main().catch(fail);
