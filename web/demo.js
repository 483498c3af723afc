// The demo page: log in, watch a peer's presence, call, answer. Plain DOM, no build step.
import { load } from "./rtmcall.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const ui = {
  server: $("server"),
  user: $("user"),
  token: $("token"),
  login: $("login"),
  logout: $("logout"),
  conn: $("conn-state"),
  me: $("me"),
  peer: $("peer"),
  peerStatus: $("peer-status"),
  message: $("message"),
  channel: $("channel"),
  call: $("call"),
  cancel: $("cancel"),
  hangup: $("hangup"),
  outCall: $("out-call"),
  outCallee: $("out-callee"),
  outState: $("out-state"),
  outOutcome: $("out-outcome"),
  noIncoming: $("no-incoming"),
  incomingList: $("incoming-list"),
  template: $("incoming-template"),
  log: $("log"),
};

const PILL = {
  CONNECTED: "green",
  CONNECTING: "amber",
  RECONNECTING: "amber",
  DISCONNECTED: "grey",
  ABORTED: "red",
  IDLE: "grey",
  SENT_TO_REMOTE: "amber",
  RECEIVED_BY_REMOTE: "blue",
  INVITATION_RECEIVED: "blue",
  ACCEPT_SENT_TO_LOCAL: "amber",
  ACCEPTED_BY_REMOTE: "green",
  ACCEPTED: "green",
  REFUSED_BY_REMOTE: "red",
  REFUSED: "red",
  CANCELED: "grey",
  FAILURE: "red",
};

function pill(el, text) {
  el.textContent = text;
  for (const c of [...el.classList]) if (c.startsWith("pill-")) el.classList.remove(c);
  el.classList.add("pill", `pill-${PILL[text] ?? "grey"}`);
}

function log(text, kind = "event") {
  const li = document.createElement("li");
  li.className = `log-${kind}`;
  const time = document.createElement("time");
  time.textContent = new Date().toLocaleTimeString([], { hour12: false });
  const msg = document.createElement("span");
  msg.textContent = text;
  li.append(time, msg);
  ui.log.prepend(li);
}

function describe(error) {
  return error?.name === "RtmError" ? `${error.codeName} (${error.code}): ${error.message}` : String(error);
}

let kit;
let client;
let clientServer = ""; // the server url client was made for
let outgoing = null; // the LocalInvitation being placed
let watched = ""; // the peer whose presence is subscribed

function loggedIn() {
  return client?.connectionState === "CONNECTED";
}

function refresh() {
  const connected = loggedIn();
  const busy = client && client.connectionState === "CONNECTING";
  ui.login.disabled = !kit || connected || busy;
  ui.logout.disabled = !client || client.connectionState === "DISCONNECTED";
  ui.user.disabled = connected || busy;
  ui.server.disabled = connected || busy;
  ui.token.disabled = connected || busy;
  const ringing = outgoing && ["SENT_TO_REMOTE", "RECEIVED_BY_REMOTE"].includes(outgoing.state);
  ui.call.disabled = !connected || Boolean(ringing) || (outgoing !== null && outgoing.state === "IDLE");
  ui.cancel.disabled = !ringing;
  ui.hangup.disabled = !outgoing || outgoing.callState !== "IN_CALL";
  ui.me.textContent = connected ? `signed in as ${client.userId}` : "";
}

function onConnectionState(state, reason) {
  pill(ui.conn, state);
  log(`connection ${state} (${reason})`, "conn");
  if (state === "DISCONNECTED") {
    watched = "";
    setPresence("unknown");
  }
  if (state === "CONNECTED") watchPeer();
  refresh();
}

function setPresence(status) {
  const s = status.toLowerCase();
  ui.peerStatus.className = `presence presence-${s}`;
  ui.peerStatus.title = s === "unknown" ? "Not subscribed" : `${watched} is ${s}`;
  ui.peerStatus.dataset.status = status;
}

// watchPeer subscribes to the presence of the peer in the call form.
async function watchPeer() {
  const peer = ui.peer.value.trim();
  if (!loggedIn() || peer === watched) return;
  const previous = watched;
  watched = "";
  setPresence("unknown");
  try {
    if (previous) await client.unsubscribePeersOnlineStatus([previous]);
    if (!peer) return;
    watched = peer;
    await client.subscribePeersOnlineStatus([peer]);
  } catch (e) {
    watched = "";
    log(`presence of ${peer}: ${describe(e)}`, "error");
  }
}

function onPresence(status) {
  for (const [id, s] of Object.entries(status)) {
    log(`${id} is ${s}`, "presence");
    if (id === watched) setPresence(s);
  }
}

async function login(event) {
  event.preventDefault();
  const user = ui.user.value.trim();
  if (!user) return;
  try {
    const server = ui.server.value.trim();
    if (!client || clientServer !== server) {
      if (client) await client.logout();
      client = kit.createClient({ url: server });
      clientServer = server;
      client.on("ConnectionStateChanged", onConnectionState);
      client.on("PeersOnlineStatusChanged", onPresence);
      client.on("RemoteInvitationReceived", onIncoming);
      client.on("TokenPrivilegeWillExpire", () => log("the token expires in 30 s", "conn"));
    }
    refresh();
    await client.login(user, ui.token.value.trim() || undefined);
    history.replaceState(null, "", `?${new URLSearchParams({ ...Object.fromEntries(params), user })}`);
  } catch (e) {
    log(`login: ${describe(e)}`, "error");
  }
  refresh();
}

async function logout() {
  try {
    await client.logout();
  } catch (e) {
    log(`logout: ${describe(e)}`, "error");
  }
  refresh();
}

async function placeCall(event) {
  event.preventDefault();
  const peer = ui.peer.value.trim();
  let call;
  try {
    call = client.createLocalInvitation(peer);
    call.content = ui.message.value;
    call.channelId = ui.channel.value.trim();
  } catch (e) {
    log(`call: ${describe(e)}`, "error");
    return;
  }
  outgoing = call;
  ui.outCall.hidden = false;
  ui.outCallee.textContent = peer;
  ui.outOutcome.textContent = "";
  ui.outOutcome.className = "outcome";
  const show = (text, kind) => {
    pill(ui.outState, call.state);
    if (text) {
      ui.outOutcome.textContent = text;
      ui.outOutcome.className = `outcome outcome-${kind}`;
    }
    refresh();
  };
  call.on("LocalInvitationReceivedByPeer", () => {
    log(`${peer}'s phone is ringing`);
    show(`Ringing ${peer}…`, "info");
  });
  call.on("LocalInvitationAccepted", (response) => {
    log(`${peer} accepted${response ? `: “${response}”` : ""}`, "good");
    show(`Accepted${response ? `: “${response}”` : ""}`, "good");
  });
  call.on("LocalInvitationRefused", (response) => {
    log(`${peer} refused${response ? `: “${response}”` : ""}`, "bad");
    show(`Refused${response ? `: “${response}”` : ""}`, "bad");
  });
  call.on("LocalInvitationCanceled", () => {
    log(`call to ${peer} canceled`);
    show("Canceled", "info");
  });
  call.on("CallEnded", (reason, by) => {
    log(`call with ${peer} ended: ${reason}${by ? ` by ${by}` : ""}`);
    show(`Call ended (${reason})`, "info");
  });
  call.on("LocalInvitationFailure", (reason) => {
    log(`call to ${peer} failed: ${reason}`, "bad");
    show(`Failed: ${reason}`, "bad");
  });
  show("Calling…", "info");
  try {
    await call.send();
    log(`calling ${peer} (invitation ${call.id.slice(0, 8)}…)`);
  } catch (e) {
    log(`call: ${describe(e)}`, "error");
  }
  show();
}

async function hangupCall() {
  try {
    await outgoing?.hangup();
  } catch (e) {
    log(`hang up: ${describe(e)}`, "error");
  }
  refresh();
}

async function cancelCall() {
  try {
    await outgoing?.cancel();
  } catch (e) {
    log(`cancel: ${describe(e)}`, "error");
  }
  refresh();
}

function onIncoming(remote) {
  ui.noIncoming.hidden = true;
  const card = ui.template.content.firstElementChild.cloneNode(true);
  const q = (sel) => card.querySelector(sel);
  card.dataset.id = remote.id;
  q(".in-caller").textContent = remote.callerId;
  q(".in-message").textContent = remote.content || "(no message)";
  q(".in-channel").textContent = remote.channelId ? `channel ${remote.channelId}` : "";
  const accept = q(".accept");
  const refuse = q(".refuse");
  const response = q(".in-response");
  const state = q(".in-state");
  const outcome = q(".in-outcome");
  const end = (text, kind) => {
    pill(state, remote.state);
    outcome.textContent = text;
    outcome.className = `outcome in-outcome outcome-${kind}`;
    card.classList.remove("ringing");
    card.classList.add("ended");
    accept.disabled = refuse.disabled = response.disabled = true;
    if (remote.response) q(".in-answer").textContent = `Your response: “${remote.response}”`;
    q(".dismiss").hidden = false;
  };
  const answer = (how) => async () => {
    try {
      remote.response = response.value;
      const done = how === "accept" ? remote.accept() : remote.refuse();
      pill(state, remote.state);
      await done;
    } catch (e) {
      log(`${how}: ${describe(e)}`, "error");
    }
  };
  accept.addEventListener("click", answer("accept"));
  refuse.addEventListener("click", answer("refuse"));
  q(".dismiss").addEventListener("click", () => {
    card.remove();
    ui.noIncoming.hidden = ui.incomingList.childElementCount > 0;
  });
  remote.on("RemoteInvitationAccepted", () => {
    log(`you accepted ${remote.callerId}'s call`, "good");
    end("You accepted", "good");
  });
  remote.on("RemoteInvitationRefused", () => {
    log(`you refused ${remote.callerId}'s call`, "bad");
    end("You refused", "bad");
  });
  remote.on("RemoteInvitationCanceled", () => {
    log(`${remote.callerId} canceled the call`);
    end("The caller canceled", "info");
  });
  remote.on("RemoteInvitationFailure", (reason) => {
    log(`${remote.callerId}'s call ended: ${reason}`, "bad");
    end(reason === "ANSWERED_ELSEWHERE" ? "Answered on another device" : `Failed: ${reason}`, "bad");
  });
  pill(state, remote.state);
  ui.incomingList.prepend(card);
  log(`${remote.callerId} is calling${remote.content ? `: “${remote.content}”` : ""}`, "ring");
}

async function main() {
  const defaultServer = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host || "127.0.0.1:8080"}/ws`;
  ui.server.value = params.get("server") ?? defaultServer;
  ui.user.value = params.get("user") ?? "";
  ui.peer.value = params.get("peer") ?? "";
  $("login-form").addEventListener("submit", login);
  ui.logout.addEventListener("click", logout);
  $("call-form").addEventListener("submit", placeCall);
  ui.cancel.addEventListener("click", cancelCall);
  ui.hangup.addEventListener("click", hangupCall);
  ui.peer.addEventListener("change", watchPeer);
  $("clear-log").addEventListener("click", () => ui.log.replaceChildren());
  try {
    kit = await load();
  } catch (e) {
    pill(ui.conn, "ABORTED");
    ui.conn.textContent = "FAILED TO LOAD";
    log(`failed to load rtmcall: ${e}`, "error");
    throw e;
  }
  const ms = performance.now();
  document.documentElement.dataset.ready = "true";
  document.documentElement.dataset.readyMs = ms.toFixed(0);
  $("version").textContent = `rtmcall ${kit.version}`;
  $("ready-time").textContent = `ready ${ms.toFixed(0)} ms after navigation`;
  pill(ui.conn, "DISCONNECTED");
  log(`rtmcall ${kit.version} loaded in ${ms.toFixed(0)} ms`, "conn");
  refresh();
  ui.user.focus();
}

main();
