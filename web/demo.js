// The demo page: log in, watch a peer's presence, call, answer, with a ringtone, ring timers and a call
// history; after the accept, an audio and video call over WebRTC, signaled with rtmcall's peer messages.
// Plain DOM, no build step.
import { load } from "./rtmcall.js";
import { readLaunch } from "./rtmcall-sw.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const ui = {
  server: $("server"),
  user: $("user"),
  token: $("token"),
  login: $("login"),
  logout: $("logout"),
  loginError: $("login-error"),
  pushEnable: $("push-enable"),
  pushStatus: $("push-status"),
  conn: $("conn-state"),
  me: $("me"),
  mute: $("mute"),
  notice: $("notice"),
  peer: $("peer"),
  peerStatus: $("peer-status"),
  message: $("message"),
  channel: $("channel"),
  ringTime: $("ring-time"),
  call: $("call"),
  cancel: $("cancel"),
  hangup: $("hangup"),
  outCall: $("out-call"),
  outCallee: $("out-callee"),
  outState: $("out-state"),
  outOutcome: $("out-outcome"),
  outTimer: $("out-timer"),
  outId: $("out-id"),
  noIncoming: $("no-incoming"),
  incomingList: $("incoming-list"),
  template: $("incoming-template"),
  history: $("history"),
  noHistory: $("no-history"),
  log: $("log"),
  media: $("media"),
  mediaPeer: $("media-peer"),
  mediaState: $("media-state"),
  mediaStatus: $("media-status"),
  localVideo: $("local-video"),
  remoteVideo: $("remote-video"),
  toggleMic: $("toggle-mic"),
  toggleCamera: $("toggle-camera"),
  mediaHangup: $("media-hangup"),
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

// How a call ended, in words, for the caller (LocalInvitationFailure reasons).
const CALLER_FAILURE = {
  PEER_OFFLINE: (peer) => [`${peer} is not online`, "info"],
  PEER_NO_RESPONSE: (peer) => [`${peer}'s devices did not respond`, "bad"],
  INVITATION_EXPIRE: (peer) => [`No answer from ${peer}`, "info"],
  NOT_LOGGEDIN: () => ["You are not logged in", "bad"],
  PEER_BUSY: (peer) => [`${peer} is in another call`, "info"],
  UNKNOWN: () => ["The call ended: the connection or the server went away", "bad"],
};

// The same for the callee (RemoteInvitationFailure reasons). Answered elsewhere is not a failure.
const CALLEE_FAILURE = {
  ANSWERED_ELSEWHERE: () => ["Answered on another device", "info"],
  INVITATION_EXPIRE: (caller) => [`Missed call from ${caller}`, "info"],
  PEER_OFFLINE: (caller) => [`${caller} went offline`, "info"],
  ACCEPT_FAILURE: () => ["Your answer did not reach the server in time", "bad"],
  UNKNOWN: () => ["The call ended: the connection or the server went away", "bad"],
};

function pill(el, text, color = PILL[text] ?? "grey") {
  el.textContent = text;
  for (const c of [...el.classList]) if (c.startsWith("pill-")) el.classList.remove(c);
  el.classList.add("pill", `pill-${color}`);
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

// plain is an error as a sentence for the user: the message without its code prefix.
function plain(error) {
  if (error?.name !== "RtmError") return String(error?.message ?? error);
  const text = error.message.replace(/^[A-Z_]+: /, "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// notify shows a message where the user looks (a banner under the top bar); "" hides it.
function notify(text, kind = "bad") {
  ui.notice.textContent = text;
  ui.notice.className = `notice notice-${kind}`;
  ui.notice.hidden = !text;
}

function clock(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// --- Sound: a ringtone for incoming calls and a ringback tone while calling, made with WebAudio.

const sound = {
  ctx: null,
  gain: null,
  kind: "off", // "incoming", "ringback" or "off"
  timer: 0,
  muted: localStorage.getItem("rtmcall-demo-muted") === "1",

  // unlock creates the AudioContext on a user gesture (browsers start it suspended otherwise).
  unlock() {
    if (!sound.ctx && globalThis.AudioContext) {
      sound.ctx = new AudioContext();
      sound.gain = sound.ctx.createGain();
      sound.gain.gain.value = sound.muted ? 0 : 1;
      sound.gain.connect(sound.ctx.destination);
    }
    sound.ctx?.resume?.();
  },

  play(kind) {
    if (sound.kind === kind) return;
    sound.stop();
    sound.kind = kind;
    document.documentElement.dataset.ringtone = kind;
    const pattern = kind === "incoming" ? { on: 1.2, off: 1.8, tones: [440, 480], volume: 0.15 }
      : { on: 1.0, off: 3.0, tones: [425], volume: 0.06 };
    const beep = () => {
      if (sound.muted || !sound.ctx) return;
      const t = sound.ctx.currentTime;
      const env = sound.ctx.createGain();
      env.gain.setValueAtTime(0, t);
      env.gain.linearRampToValueAtTime(pattern.volume, t + 0.02);
      env.gain.setValueAtTime(pattern.volume, t + pattern.on - 0.05);
      env.gain.linearRampToValueAtTime(0, t + pattern.on);
      env.connect(sound.gain);
      for (const f of pattern.tones) {
        const osc = sound.ctx.createOscillator();
        osc.frequency.value = f;
        osc.connect(env);
        osc.start(t);
        osc.stop(t + pattern.on);
      }
    };
    beep();
    sound.timer = setInterval(beep, (pattern.on + pattern.off) * 1000);
  },

  stop() {
    clearInterval(sound.timer);
    sound.kind = "off";
    document.documentElement.dataset.ringtone = "off";
  },

  setMuted(muted) {
    sound.muted = muted;
    localStorage.setItem("rtmcall-demo-muted", muted ? "1" : "0");
    if (sound.gain) sound.gain.gain.value = muted ? 0 : 1;
  },
};

// updateSound plays what the calls in progress call for: incoming ringing first.
function updateSound() {
  if (ringingIn.size > 0) sound.play("incoming");
  else if (outgoing && ["SENT_TO_REMOTE", "RECEIVED_BY_REMOTE"].includes(outgoing.state)) sound.play("ringback");
  else sound.stop();
  updateTitle();
}

// --- Attention while the tab is hidden: a flashing title and a notification.

const baseTitle = document.title;
let titleTimer = 0;

function updateTitle() {
  const caller = [...ringingIn.values()][0];
  clearInterval(titleTimer);
  titleTimer = 0;
  if (!caller || !document.hidden) {
    document.title = ringingIn.size > 0 ? `📞 ${caller} is calling – ${baseTitle}` : baseTitle;
    return;
  }
  let on = true;
  const flash = () => {
    document.title = on ? `📞 ${caller} is calling…` : baseTitle;
    on = !on;
  };
  flash();
  titleTimer = setInterval(flash, 1000);
}

function notifyIncoming(remote) {
  if (!document.hidden || !globalThis.Notification || Notification.permission !== "granted") return null;
  const n = new Notification(`${remote.callerId} is calling`, {
    body: remote.content || "Incoming call",
    tag: remote.id,
    requireInteraction: true,
  });
  n.onclick = () => {
    window.focus();
    n.close();
  };
  return n;
}

// --- Call history, kept per user in localStorage.

const HISTORY_MAX = 50;

function historyKey() {
  return `rtmcall-demo-history:${client?.userId ?? ""}`;
}

function loadHistory() {
  try {
    return JSON.parse(localStorage.getItem(historyKey()) ?? "[]");
  } catch {
    return [];
  }
}

function addHistory(entry) {
  const list = [entry, ...loadHistory()].slice(0, HISTORY_MAX);
  localStorage.setItem(historyKey(), JSON.stringify(list));
  renderHistory();
}

function renderHistory() {
  const list = client?.userId ? loadHistory() : [];
  ui.history.replaceChildren(...list.map((e) => {
    const li = document.createElement("li");
    li.className = `history-${e.kind}`;
    li.dataset.direction = e.direction;
    const dir = document.createElement("span");
    dir.className = "dir";
    dir.textContent = e.direction === "out" ? "↗" : "↙";
    dir.title = e.direction === "out" ? "Outgoing" : "Incoming";
    const who = document.createElement("strong");
    who.textContent = e.peer;
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = e.outcome;
    const when = document.createElement("time");
    when.className = "muted";
    when.textContent = `${new Date(e.at).toLocaleTimeString([], { hour12: false })} · rang ${clock(e.rangMs)}`;
    const id = document.createElement("code");
    id.className = "call-id";
    id.textContent = e.id || "not sent";
    li.append(dir, who, what, when, id);
    return li;
  }));
  ui.noHistory.hidden = list.length > 0;
}

// --- The audio and video call after accept: WebRTC between the two pages. The caller offers, the callee
// answers; offer, answer and ICE candidates travel as rtmcall peer messages, in a JSON envelope tagged with
// the invitation's id and channel, so that other messages are ignored. No STUN or TURN server is needed on
// one machine or a LAN; ?ice=[{"urls":"turn:turn.example.com:3478","username":"u","credential":"p"}] adds some.

const SIGNAL = "rtmcall-demo-webrtc";

function iceServers() {
  const raw = params.get("ice");
  if (!raw) return [];
  try {
    const list = JSON.parse(raw);
    if (Array.isArray(list)) return list;
  } catch {
    // not JSON: a comma-separated list of stun: or turn: URLs
  }
  return raw.split(",").map((u) => u.trim()).filter(Boolean).map((urls) => ({ urls }));
}

// getMedia asks for camera and microphone, then for either alone; it returns the stream (maybe empty) and,
// when something is missing, why, in words.
async function getMedia() {
  if (!navigator.mediaDevices?.getUserMedia) {
    return [new MediaStream(), "This page is not on a secure origin (https, or http://localhost), so the browser " +
      "gives it no camera or microphone: you can only see and hear the other side."];
  }
  let first;
  for (const want of [{ audio: true, video: true }, { audio: true }, { video: true }]) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia(want);
      if (want.video && want.audio) return [stream, ""];
      return [stream, `${mediaError(first)}: the call goes on ${want.audio ? "with sound only from you" : "without your microphone"}.`];
    } catch (e) {
      first ??= e;
    }
  }
  return [new MediaStream(), `${mediaError(first)}: you can only see and hear the other side.`];
}

function mediaError(e) {
  switch (e?.name) {
    case "NotAllowedError": return "You did not allow the camera and microphone";
    case "NotFoundError": return "No camera or microphone was found";
    case "NotReadableError": return "The camera or microphone is in use by another program";
    default: return `The camera and microphone are unavailable (${e?.name ?? "error"}: ${e?.message ?? e})`;
  }
}

let media = null; // the call's media session, until it ends

// startMedia starts the WebRTC side of an accepted call: invitation is the LocalInvitation (caller, who
// offers) or the RemoteInvitation (callee, who answers).
function startMedia(invitation, role) {
  stopMedia();
  const peer = role === "caller" ? invitation.calleeId : invitation.callerId;
  const session = {
    invitation, role, peer,
    callId: invitation.id,
    channel: invitation.channelId ?? "",
    pc: new RTCPeerConnection({ iceServers: iceServers() }),
    local: null,
    remote: new MediaStream(),
    queue: Promise.resolve(), // incoming signals, handled in order
    sending: Promise.resolve(), // outgoing signals, sent in order
    pendingIce: [],
    closed: false,
  };
  media = session;
  const { pc } = session;
  ui.media.hidden = false;
  ui.mediaPeer.textContent = peer;
  ui.remoteVideo.srcObject = session.remote;
  ui.localVideo.srcObject = null;
  ui.mediaStatus.textContent = "";
  ui.mediaStatus.className = "media-status muted";
  pill(ui.mediaState, "STARTING", "amber");
  ui.media.dataset.state = "starting";
  pc.onicecandidate = (e) => { if (e.candidate) signal(session, { kind: "ice", candidate: e.candidate.toJSON() }); };
  pc.ontrack = (e) => {
    session.remote.addTrack(e.track);
    ui.remoteVideo.srcObject = session.remote;
    showVideo();
    e.track.onunmute = showVideo;
    e.track.onended = showVideo;
  };
  pc.onconnectionstatechange = () => {
    if (session.closed) return;
    const state = pc.connectionState;
    ui.media.dataset.state = state;
    pill(ui.mediaState, state.toUpperCase(), { connected: "green", failed: "red", disconnected: "amber" }[state] ?? "amber");
    log(`media with ${peer}: ${state}`, state === "failed" ? "error" : "conn");
    if (state === "failed") {
      mediaStatus("The audio and video could not get through: the two browsers found no network path. " +
        "Across networks, add a STUN or TURN server (?ice=).", true);
    }
  };
  session.ready = (async () => {
    const [stream, problem] = await getMedia();
    if (session.closed) {
      for (const t of stream.getTracks()) t.stop();
      return;
    }
    session.local = stream;
    ui.localVideo.srcObject = stream;
    if (problem) {
      mediaStatus(problem, true);
      log(problem, "error");
    }
    updateToggles();
    showVideo();
    if (role === "caller") {
      for (const t of stream.getTracks()) pc.addTrack(t, stream);
      for (const kind of ["audio", "video"]) {
        if (stream.getTracks().every((t) => t.kind !== kind)) pc.addTransceiver(kind, { direction: "recvonly" });
      }
      await pc.setLocalDescription(await pc.createOffer());
      signal(session, { kind: "offer", sdp: pc.localDescription.sdp });
    }
  })();
  session.queue = session.ready.catch((e) => mediaFailed(session, e));
}

function mediaStatus(text, bad = false) {
  ui.mediaStatus.textContent = text;
  ui.mediaStatus.className = `media-status ${bad ? "bad" : "muted"}`;
}

function mediaFailed(session, e) {
  if (session.closed) return;
  log(`media: ${e?.name ?? "error"}: ${e?.message ?? e}`, "error");
  mediaStatus(`The audio and video call failed: ${e?.message ?? e}`, true);
}

// signal sends one envelope to the peer, after the ones before it.
function signal(session, body) {
  const text = JSON.stringify({ t: SIGNAL, call: session.callId, channel: session.channel, ...body });
  session.sending = session.sending.then(async () => {
    if (session.closed) return;
    try {
      const { hasPeerReceived } = await client.sendMessageToPeer({ text }, session.peer);
      if (!hasPeerReceived && body.kind !== "ice") mediaStatus(`${session.peer} did not get the ${body.kind}: are they still online?`, true);
    } catch (e) {
      log(`media: sending the ${body.kind}: ${describe(e)}`, "error");
      if (body.kind !== "ice") mediaStatus(`Could not send the ${body.kind}: ${plain(e)}`, true);
    }
  });
}

// onPeerMessage takes this call's envelopes from its peer and ignores everything else.
function onPeerMessage(message, peerId) {
  const session = media;
  let m = null;
  try {
    m = JSON.parse(message?.text);
  } catch {
    // not a signal
  }
  if (!session || session.closed || peerId !== session.peer || m?.t !== SIGNAL || m.call !== session.callId ||
    (m.channel ?? "") !== session.channel) {
    log(`ignored a message from ${peerId}: not for the call in progress`);
    return;
  }
  session.queue = session.queue.then(() => handleSignal(session, m)).catch((e) => mediaFailed(session, e));
}

async function handleSignal(session, m) {
  const { pc } = session;
  if (session.closed) return;
  if (m.kind === "offer" && session.role === "callee") {
    await pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
    // addTrack takes the transceivers the offer made, so that they send as well as receive.
    for (const t of session.local?.getTracks() ?? []) pc.addTrack(t, session.local);
    await pc.setLocalDescription(await pc.createAnswer());
    signal(session, { kind: "answer", sdp: pc.localDescription.sdp });
  } else if (m.kind === "answer" && session.role === "caller") {
    await pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
  } else if (m.kind === "ice" && m.candidate) {
    if (!pc.remoteDescription) {
      session.pendingIce.push(m.candidate);
      return;
    }
    await pc.addIceCandidate(m.candidate);
    return;
  } else {
    return;
  }
  for (const c of session.pendingIce.splice(0)) await pc.addIceCandidate(c);
}

// stopMedia ends the media session: closes the peer connection and stops the camera and microphone.
function stopMedia(reason) {
  const session = media;
  if (!session) return;
  media = null;
  session.closed = true;
  session.pc.close();
  for (const t of session.local?.getTracks() ?? []) t.stop();
  for (const t of session.remote.getTracks()) t.stop();
  ui.localVideo.srcObject = null;
  ui.remoteVideo.srcObject = null;
  ui.media.hidden = true;
  ui.media.dataset.state = "closed";
  if (reason) log(`media with ${session.peer} closed (${reason})`, "conn");
}

function showVideo() {
  const live = (s) => s?.getVideoTracks().some((t) => t.readyState === "live" && t.enabled && !t.muted);
  ui.localVideo.parentElement.classList.toggle("off", !live(media?.local));
  ui.remoteVideo.parentElement.classList.toggle("off", !live(media?.remote));
}

function updateToggles() {
  const audio = media?.local?.getAudioTracks()[0];
  const video = media?.local?.getVideoTracks()[0];
  ui.toggleMic.disabled = !audio;
  ui.toggleMic.textContent = audio && !audio.enabled ? "Unmute mic" : "Mute mic";
  ui.toggleCamera.disabled = !video;
  ui.toggleCamera.textContent = video && !video.enabled ? "Camera on" : "Camera off";
}

function toggle(kind) {
  for (const t of media?.local?.getTracks() ?? []) if (t.kind === kind) t.enabled = !t.enabled;
  updateToggles();
  showVideo();
}

// --- State.

let kit;
let client;
let clientServer = ""; // the server url client was made for
let outgoing = null; // the LocalInvitation being placed, until it ends
let inCall = null; // the accepted call (made or answered here), until CallEnded: what Hang up ends
let outTimer = 0;
let watched = ""; // the peer whose presence is subscribed
const ringingIn = new Map(); // RemoteInvitation -> caller id, while it rings

function loggedIn() {
  return client?.connectionState === "CONNECTED";
}

function refresh() {
  const connected = loggedIn();
  const busy = client && client.connectionState === "CONNECTING";
  ui.login.disabled = !kit || connected || busy;
  ui.logout.disabled = !client || client.connectionState === "DISCONNECTED";
  ui.pushEnable.disabled = !connected;
  ui.user.disabled = connected || busy;
  ui.server.disabled = connected || busy;
  ui.token.disabled = connected || busy;
  const ringing = outgoing && ["IDLE", "SENT_TO_REMOTE", "RECEIVED_BY_REMOTE"].includes(outgoing.state);
  ui.call.disabled = !connected || Boolean(ringing);
  ui.cancel.disabled = !outgoing || !["SENT_TO_REMOTE", "RECEIVED_BY_REMOTE"].includes(outgoing.state);
  ui.hangup.disabled = !inCall;
  ui.mediaHangup.disabled = !inCall;
  ui.me.textContent = connected ? `signed in as ${client.userId}` : "";
  document.body.classList.toggle("signed-in", Boolean(connected));
}

function onConnectionState(state, reason) {
  pill(ui.conn, state);
  log(`connection ${state} (${reason})`, "conn");
  if (state === "DISCONNECTED") {
    watched = "";
    setPresence("unknown");
  }
  if (state === "CONNECTED") {
    watchPeer();
    notify("");
  }
  if (state === "RECONNECTING") notify("Connection lost: reconnecting… Calls in progress stay alive.", "info");
  if (state === "ABORTED") notify("The connection could not be resumed: log in again.");
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
  sound.unlock();
  if (globalThis.Notification?.permission === "default") Notification.requestPermission().catch(() => {});
  const user = ui.user.value.trim();
  if (!user) return;
  ui.loginError.hidden = true;
  try {
    const server = ui.server.value.trim();
    if (!client || clientServer !== server) {
      if (client) await client.logout();
      client = kit.createClient({ url: server });
      clientServer = server;
      client.on("ConnectionStateChanged", onConnectionState);
      client.on("PeersOnlineStatusChanged", onPresence);
      client.on("RemoteInvitationReceived", onIncoming);
      client.on("MessageFromPeer", onPeerMessage);
      client.on("TokenPrivilegeWillExpire", () => log("the token expires in 30 s", "conn"));
    }
    refresh();
    await client.login(user, ui.token.value.trim() || undefined);
    history.replaceState(null, "", `?${new URLSearchParams({ ...Object.fromEntries(params), user })}`);
    renderHistory();
  } catch (e) {
    log(`login: ${describe(e)}`, "error");
    ui.loginError.textContent = `Could not log in: ${plain(e)}`;
    ui.loginError.hidden = false;
  }
  refresh();
}

async function logout() {
  stopMedia("logged out");
  try {
    await client.logout();
  } catch (e) {
    log(`logout: ${describe(e)}`, "error");
    notify(`Could not log out: ${plain(e)}`);
  }
  renderHistory();
  refresh();
}

async function placeCall(event) {
  event.preventDefault();
  sound.unlock();
  notify("");
  const peer = ui.peer.value.trim();
  const ringSeconds = ui.ringTime.value.trim();
  let call;
  try {
    call = client.createLocalInvitation(peer);
    call.content = ui.message.value;
    call.channelId = ui.channel.value.trim();
    if (ringSeconds) call.timeoutMs = Math.round(Number(ringSeconds) * 1000);
  } catch (e) {
    log(`call: ${describe(e)}`, "error");
    notify(`Could not call ${peer}: ${plain(e)}`);
    return;
  }
  outgoing = call;
  ui.outCall.hidden = false;
  ui.outCallee.textContent = peer;
  ui.outOutcome.textContent = "";
  ui.outOutcome.className = "outcome";
  ui.outId.textContent = "";
  ui.outId.title = "";
  const started = Date.now();
  let ended = false;
  clearInterval(outTimer);
  const tick = () => {
    const rang = Date.now() - started;
    ui.outTimer.textContent = call.timeoutMs > 0 ? `ringing ${clock(rang)} of ${clock(call.timeoutMs)}` : `ringing ${clock(rang)}`;
  };
  tick();
  outTimer = setInterval(tick, 250);
  const show = (text, kind) => {
    pill(ui.outState, call.state);
    if (text) {
      ui.outOutcome.textContent = text;
      ui.outOutcome.className = `outcome outcome-${kind}`;
    }
    if (call.id && !ui.outId.textContent) {
      ui.outId.textContent = `call ${call.id}`;
      ui.outId.title = "The invitation's id, assigned by the server";
    }
    refresh();
    updateSound();
  };
  // end records the outcome once: the card keeps it, the history gets an entry.
  const end = (text, kind, reason) => {
    if (ended) return;
    ended = true;
    clearInterval(outTimer);
    const rangMs = Date.now() - started;
    ui.outTimer.textContent = `rang ${clock(rangMs)}`;
    if (outgoing === call) outgoing = null;
    show(text, kind);
    if (reason) pill(ui.outState, reason, kind === "bad" ? "red" : "grey"); // the reason, not a red FAILURE
    addHistory({ direction: "out", peer, outcome: text, kind, at: started, rangMs, id: call.id });
  };
  call.on("LocalInvitationReceivedByPeer", () => {
    log(`${peer}'s phone is ringing`);
    show(`Ringing ${peer}…`, "info");
  });
  call.on("LocalInvitationAccepted", (response) => {
    log(`${peer} accepted${response ? `: “${response}”` : ""}`, "good");
    inCall = call;
    end(`Accepted${response ? `: “${response}”` : ""}`, "good");
    startMedia(call, "caller");
  });
  call.on("LocalInvitationRefused", (response) => {
    log(`${peer} refused${response ? `: “${response}”` : ""}`, "bad");
    end(`Declined${response ? `: “${response}”` : ""}`, "bad");
  });
  call.on("LocalInvitationCanceled", () => {
    log(`call to ${peer} canceled`);
    end("You canceled", "info");
  });
  call.on("CallEnded", (reason, by) => {
    if (inCall === call) inCall = null;
    if (media?.invitation === call) stopMedia(reason);
    log(`call with ${peer} ended: ${reason}${by ? ` by ${by}` : ""}`);
    if (!outgoing) show(`Call ended (${reason})`, "info");
    else refresh();
  });
  call.on("LocalInvitationFailure", (reason) => {
    log(`call to ${peer} failed: ${reason}`, "bad");
    const [text, kind] = (CALLER_FAILURE[reason] ?? CALLER_FAILURE.UNKNOWN)(peer);
    end(text, kind, reason);
  });
  show(`Calling ${peer}…`, "info");
  try {
    await call.send();
    log(`calling ${peer} (invitation ${call.id})`);
    show();
  } catch (e) {
    // The server refused the invitation (a call to yourself, a bad id, not logged in): it never rang.
    log(`call: ${describe(e)}`, "error");
    notify(`Could not call ${peer}: ${plain(e)}`);
    end(`Not sent: ${plain(e)}`, "bad");
  }
}

async function hangupCall() {
  try {
    await inCall?.hangup();
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
    notify(`Could not cancel: ${plain(e)}`);
  }
  refresh();
}

function onIncoming(remote) {
  if (launch?.invitation === remote.id) {
    const how = launch.action;
    launch = null;
    if (how === "accept") {
      log(`accepting ${remote.callerId}'s call from the notification`, "ring");
      remote.accept().catch((e) => log(`accept: ${describe(e)}`, "error"));
    }
  }
  ui.noIncoming.hidden = true;
  const card = ui.template.content.firstElementChild.cloneNode(true);
  const q = (sel) => card.querySelector(sel);
  const caller = remote.callerId;
  card.dataset.id = remote.id;
  q(".in-caller").textContent = caller;
  q(".in-message").textContent = remote.content || "(no message)";
  q(".in-channel").textContent = remote.channelId ? `channel ${remote.channelId}` : "";
  q(".in-id").textContent = `call ${remote.id}`;
  const accept = q(".accept");
  const refuse = q(".refuse");
  const response = q(".in-response");
  const state = q(".in-state");
  const outcome = q(".in-outcome");
  const timer = q(".in-timer");
  const started = Date.now();
  const tick = () => { timer.textContent = `ringing ${clock(Date.now() - started)}`; };
  tick();
  const ticker = setInterval(tick, 250);
  const notification = notifyIncoming(remote);
  ringingIn.set(remote, caller);
  updateSound();
  let ended = false;
  const end = (text, kind, reason) => {
    if (ended) return;
    ended = true;
    clearInterval(ticker);
    const rangMs = Date.now() - started;
    timer.textContent = `rang ${clock(rangMs)}`;
    ringingIn.delete(remote);
    notification?.close();
    if (kind !== "good" && media?.invitation === remote) stopMedia(reason ?? "not accepted");
    updateSound();
    if (reason) pill(state, reason, kind === "bad" ? "red" : "grey"); // the reason, not a red FAILURE
    else pill(state, remote.state);
    outcome.textContent = text;
    outcome.className = `outcome in-outcome outcome-${kind}`;
    card.classList.remove("ringing");
    card.classList.add("ended");
    accept.disabled = refuse.disabled = response.disabled = true;
    if (remote.response) q(".in-answer").textContent = `Your response: “${remote.response}”`;
    q(".dismiss").hidden = kind === "good"; // an accepted call's card stays until the call ends
    addHistory({ direction: "in", peer: caller, outcome: text, kind, at: started, rangMs, id: remote.id });
  };
  const answer = (how) => async () => {
    sound.unlock();
    try {
      remote.response = response.value;
      // The media session starts with the click, so that the caller's offer finds it waiting.
      if (how === "accept") startMedia(remote, "callee");
      const done = how === "accept" ? remote.accept() : remote.refuse();
      pill(state, remote.state);
      await done;
    } catch (e) {
      log(`${how}: ${describe(e)}`, "error");
      if (media?.invitation === remote) stopMedia("not accepted");
      // ALREADY_END: the call ended first; its own event says how, on the card.
      if (e?.codeName !== "ALREADY_END") {
        outcome.textContent = `Could not ${how}: ${plain(e)}`;
        outcome.className = "outcome in-outcome outcome-bad";
      }
    }
  };
  accept.addEventListener("click", answer("accept"));
  refuse.addEventListener("click", answer("refuse"));
  q(".dismiss").addEventListener("click", () => {
    card.remove();
    ui.noIncoming.hidden = ui.incomingList.childElementCount > 0;
  });
  remote.on("RemoteInvitationAccepted", () => {
    log(`you accepted ${caller}'s call`, "good");
    end("You accepted", "good");
    inCall = remote;
    refresh();
  });
  remote.on("CallEnded", (reason, by) => {
    if (inCall === remote) inCall = null;
    if (media?.invitation === remote) stopMedia(reason);
    log(`call with ${caller} ended: ${reason}${by ? ` by ${by}` : ""}`);
    outcome.textContent = `Call ended (${reason})`;
    outcome.className = "outcome in-outcome outcome-info";
    q(".dismiss").hidden = false;
    refresh();
  });
  remote.on("RemoteInvitationRefused", () => {
    log(`you declined ${caller}'s call`, "bad");
    end("You declined", "bad");
  });
  remote.on("RemoteInvitationCanceled", () => {
    log(`${caller} canceled the call`);
    end(`${caller} hung up before you answered`, "info");
  });
  remote.on("RemoteInvitationFailure", (reason) => {
    log(`${caller}'s call ended: ${reason}`, reason === "ANSWERED_ELSEWHERE" ? "event" : "bad");
    const [text, kind] = (CALLEE_FAILURE[reason] ?? CALLEE_FAILURE.UNKNOWN)(caller);
    end(text, kind, reason);
  });
  pill(state, remote.state);
  ui.incomingList.prepend(card);
  card.scrollIntoView({ block: "nearest" });
  log(`${caller} is calling${remote.content ? `: “${remote.content}”` : ""}`, "ring");
}

// Web Push: the notification's click opened this page with the invitation in its URL (readLaunch), or
// posts it to this page when it is open. The demo logs in again as the user who enabled push, and the
// invitation rings through late ringing.
const PUSH_USER = "rtmcall-demo-push-user";
let launch = readLaunch(location.href);
// How long the browser's push service may take to answer pushManager.subscribe (enablePush's
// subscribeTimeoutMs): some browsers never answer (headless Chromium, a network that blocks the push
// service), and the button then says so instead of hanging. ?pushTimeout=<ms> changes it.
const PUSH_TIMEOUT_MS = Number(params.get("pushTimeout")) > 0 ? Number(params.get("pushTimeout")) : 10000;

async function enablePush() {
  const say = (text) => { ui.pushStatus.textContent = text; };
  if (!("serviceWorker" in navigator) || !("PushManager" in globalThis)) {
    say("This browser has no Web Push (or the page is not on https or localhost).");
    return;
  }
  say("Registering…");
  try {
    const registration = await navigator.serviceWorker.register("demo-sw.js");
    say(`Asking the browser's push service (up to ${Math.ceil(PUSH_TIMEOUT_MS / 1000)} s)…`);
    await client.enablePush(registration, { subscribeTimeoutMs: PUSH_TIMEOUT_MS });
    localStorage.setItem(PUSH_USER, client.userId);
    say(`Done: a call to ${client.userId} while no tab is logged in shows a notification.`);
  } catch (e) {
    log(`enablePush: ${describe(e)}`, "error");
    const why = {
      PUSH_DENIED: "notifications are blocked for this site; allow them in the browser's site settings",
      PUSH_UNAVAILABLE: `push is unavailable here (${String(e.message).replace(/^[A-Z_]+: /, "")})`,
    }[e.codeName] ?? plain(e);
    say(`Not enabled: ${why}.`);
  }
}

async function answerLaunch() {
  const user = localStorage.getItem(PUSH_USER);
  if (!launch || !user || loggedIn()) return;
  ui.user.value = user;
  log(`opened from a notification for call ${launch.invitation}: logging in as ${user}`, "ring");
  await login(new Event("submit"));
}

async function main() {
  const defaultServer = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host || "127.0.0.1:8080"}/ws`;
  ui.server.value = params.get("server") ?? defaultServer;
  ui.user.value = params.get("user") ?? "";
  ui.peer.value = params.get("peer") ?? "";
  ui.ringTime.value = params.get("ring") ?? "";
  ui.mute.checked = sound.muted;
  document.documentElement.dataset.ringtone = "off";
  $("login-form").addEventListener("submit", login);
  ui.logout.addEventListener("click", logout);
  ui.pushEnable.addEventListener("click", enablePush);
  navigator.serviceWorker?.addEventListener("message", (e) => {
    const l = readLaunch(e.data);
    if (!l) return;
    launch = l;
    answerLaunch();
  });
  $("call-form").addEventListener("submit", placeCall);
  ui.cancel.addEventListener("click", cancelCall);
  ui.hangup.addEventListener("click", hangupCall);
  ui.mediaHangup.addEventListener("click", hangupCall);
  ui.toggleMic.addEventListener("click", () => toggle("audio"));
  ui.toggleCamera.addEventListener("click", () => toggle("video"));
  ui.peer.addEventListener("change", watchPeer);
  ui.mute.addEventListener("change", () => {
    sound.unlock();
    sound.setMuted(ui.mute.checked);
  });
  document.addEventListener("visibilitychange", updateTitle);
  $("clear-log").addEventListener("click", () => ui.log.replaceChildren());
  $("clear-history").addEventListener("click", () => {
    localStorage.removeItem(historyKey());
    renderHistory();
  });
  renderHistory();
  try {
    kit = await load();
  } catch (e) {
    pill(ui.conn, "ABORTED");
    ui.conn.textContent = "FAILED TO LOAD";
    log(`failed to load rtmcall: ${e}`, "error");
    notify(`The rtmcall module failed to load: ${e.message ?? e}`);
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
  answerLaunch();
}

main();
