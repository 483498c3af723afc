// A one-to-one call app written the way Agora RTM 1.x tutorials write them, against the global AgoraRTM
// (from agora-rtm-sdk-1.5.1.js). It runs unchanged on rtmcall: classic.html loads /agora.global.js
// instead of Agora's script, module.html maps "agora-rtm-sdk" to /agora.js with an import map.
const APP_ID = "4d1d0e3ef5c94b1ba3d5a5b52e2c3f10";

const client = AgoraRTM.createInstance(APP_ID, { enableLogUpload: false, logFilter: AgoraRTM.LOG_FILTER_WARNING });
let uid = "";
let localInvitation = null;
let remoteInvitation = null;

function log(text) {
  const item = document.createElement("li");
  item.textContent = text;
  document.getElementById("log").appendChild(item);
}

function value(id) {
  return document.getElementById(id).value.trim();
}

// Your app server issues the RTM token.
async function fetchToken(userId) {
  const res = await fetch("/token?uid=" + encodeURIComponent(userId));
  const data = await res.json();
  return data.token;
}

client.on("ConnectionStateChanged", function (newState, reason) {
  log("connection " + newState + " (" + reason + ")");
});

client.on("TokenPrivilegeWillExpire", async function () {
  log("token will expire");
  await client.renewToken(await fetchToken(uid));
  log("token renewed");
});

client.on("TokenExpired", async function () {
  log("token expired");
  await client.login({ uid: uid, token: await fetchToken(uid) });
  log("logged in again as " + uid);
});

client.on("MessageFromPeer", function (message, peerId) {
  log("message from " + peerId + ": " + message.text);
});

client.on("RemoteInvitationReceived", function (invitation) {
  remoteInvitation = invitation;
  log("incoming call from " + invitation.callerId + ": " + invitation.content + " in " + invitation.channelId);
  invitation.on("RemoteInvitationAccepted", function () {
    log("joining channel " + invitation.channelId);
  });
  invitation.on("RemoteInvitationRefused", function () {
    log("incoming call refused");
  });
  invitation.on("RemoteInvitationCanceled", function () {
    log("incoming call canceled by " + invitation.callerId);
  });
  invitation.on("RemoteInvitationFailure", function (reason) {
    log("incoming call failed: " + reason);
  });
});

document.getElementById("login").addEventListener("click", async function () {
  uid = value("uid");
  try {
    await client.login({ uid: uid, token: await fetchToken(uid) });
    log("logged in as " + uid);
  } catch (err) {
    log("login failed: " + err.name + " " + err.code);
  }
});

document.getElementById("logout").addEventListener("click", async function () {
  await client.logout();
  log("logged out");
});

document.getElementById("call").addEventListener("click", function () {
  const peer = value("peer");
  localInvitation = client.createLocalInvitation(peer);
  localInvitation.content = "video call";
  localInvitation.channelId = "room-" + uid;
  localInvitation.on("LocalInvitationReceivedByPeer", function () {
    log("ringing " + peer);
  });
  localInvitation.on("LocalInvitationAccepted", function (response) {
    log("call accepted: " + response);
  });
  localInvitation.on("LocalInvitationRefused", function (response) {
    log("call refused: " + response);
  });
  localInvitation.on("LocalInvitationCanceled", function () {
    log("call canceled");
  });
  localInvitation.on("LocalInvitationFailure", function (reason) {
    log("call failed: " + reason);
  });
  localInvitation.send();
  log("calling " + peer + " (" + localInvitation.state + ")");
});

document.getElementById("cancel").addEventListener("click", function () {
  try {
    localInvitation.cancel();
  } catch (err) {
    log("cancel failed: " + err.name + " " + err.code);
  }
});

document.getElementById("accept").addEventListener("click", function () {
  remoteInvitation.response = "on my way";
  remoteInvitation.accept();
});

document.getElementById("refuse").addEventListener("click", function () {
  remoteInvitation.response = "busy";
  remoteInvitation.refuse();
});

document.getElementById("send").addEventListener("click", async function () {
  const peer = value("peer");
  try {
    const result = await client.sendMessageToPeer({ text: value("message") }, peer);
    log("message delivered: " + result.hasPeerReceived);
  } catch (err) {
    log("message failed: " + err.name + " " + err.code);
  }
});

log("AgoraRTM " + AgoraRTM.VERSION);
