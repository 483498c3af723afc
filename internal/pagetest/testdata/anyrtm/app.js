// A one-to-one call app written the way anyRTM (ar-rtm-sdk) samples write them, against the globals
// ArRTM and RtmStatusCode (from ArRTM@latest.js). It runs unchanged on rtmcall: classic.html loads
// /anyrtm.global.js instead, module.html maps "ar-rtm-sdk" to /anyrtm.js with an import map.
var appid = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
var rtmClient = ArRTM.createInstance(appid);
var userId = "";
var callInvitation = null;
var incomingInvitation = null;

var ConnectionState = RtmStatusCode.ConnectionState;
var LocalInvitationFailureReason = RtmStatusCode.LocalInvitationFailureReason;

function print(text) {
  var li = document.createElement("li");
  li.innerText = text;
  document.querySelector("#log").appendChild(li);
}

function getToken(id) {
  return fetch("/token?uid=" + encodeURIComponent(id))
    .then(function (res) { return res.json(); })
    .then(function (body) { return body.token; });
}

rtmClient.on("ConnectionStateChanged", function (state, reason) {
  print("connection " + state + " (" + reason + ")");
  if (state === ConnectionState.CONNECTED) document.querySelector("#status").innerText = "online";
});

rtmClient.on("TokenWillExpired", function () {
  print("token will expire");
  getToken(userId).then(function (token) {
    return rtmClient.renewToken(token);
  }).then(function () {
    print("token renewed");
  });
});

rtmClient.on("TokenDidExpired", function () {
  print("token expired");
  getToken(userId).then(function (token) {
    return rtmClient.login({ uid: userId, token: token });
  }).then(function () {
    print("logged in again as " + userId);
  });
});

rtmClient.on("MessageFromPeer", function (message, peerId) {
  print("message from " + peerId + ": " + message.text);
});

rtmClient.on("RemoteInvitationReceived", function (remoteInvitation) {
  incomingInvitation = remoteInvitation;
  print("incoming call from " + remoteInvitation.callerId + ": " + remoteInvitation.content);
  remoteInvitation.on("RemoteInvitationAccepted", function () {
    print("call connected");
  });
  remoteInvitation.on("RemoteInvitationRefused", function () {
    print("incoming call refused");
  });
  remoteInvitation.on("RemoteInvitationCanceled", function () {
    print("incoming call canceled by " + remoteInvitation.callerId);
  });
  remoteInvitation.on("RemoteInvitationFailure", function (reason) {
    print("incoming call failed: " + reason);
  });
});

document.querySelector("#login").onclick = function () {
  userId = document.querySelector("#uid").value;
  getToken(userId).then(function (token) {
    return rtmClient.login({ uid: userId, token: token });
  }).then(function () {
    print("logged in as " + userId);
  }).catch(function (err) {
    print("login failed: " + err.name + " " + err.code);
  });
};

document.querySelector("#logout").onclick = function () {
  rtmClient.logout().then(function () {
    print("logged out");
  });
};

document.querySelector("#call").onclick = function () {
  var calleeId = document.querySelector("#peer").value;
  callInvitation = rtmClient.createLocalInvitation(calleeId);
  callInvitation.content = JSON.stringify({ mode: "audio" });
  callInvitation.on("LocalInvitationReceivedByPeer", function () {
    print("ringing " + calleeId);
  });
  callInvitation.on("LocalInvitationAccepted", function (response) {
    print("call accepted: " + response);
  });
  callInvitation.on("LocalInvitationRefused", function (response) {
    print("call refused: " + response);
  });
  callInvitation.on("LocalInvitationCanceled", function () {
    print("call canceled");
  });
  callInvitation.on("LocalInvitationFailure", function (reason) {
    print(reason === LocalInvitationFailureReason.PEER_OFFLINE ? "callee is offline" : "call failed: " + reason);
  });
  callInvitation.send();
  print("calling " + calleeId + " (" + callInvitation.state + ")");
};

document.querySelector("#cancel").onclick = function () {
  try {
    callInvitation.cancel();
  } catch (err) {
    print("cancel failed: " + err.name + " " + err.code);
  }
};

document.querySelector("#accept").onclick = function () {
  incomingInvitation.response = JSON.stringify({ accept: true });
  incomingInvitation.accept();
};

document.querySelector("#refuse").onclick = function () {
  incomingInvitation.response = JSON.stringify({ busy: true });
  incomingInvitation.refuse();
};

document.querySelector("#send").onclick = function () {
  var peerId = document.querySelector("#peer").value;
  rtmClient.sendMessageToPeer({ text: document.querySelector("#message").value }, peerId).then(function (result) {
    print("message delivered: " + result.hasPeerReceived);
  }).catch(function (err) {
    print("message failed: " + err.name + " " + err.code);
  });
};

print("ArRTM " + ArRTM.VERSION);
