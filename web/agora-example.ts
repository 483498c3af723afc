// A typed Agora RTM 1.x call app on rtmcall/agora; `make test-types` checks it with tsc --strict. It is an
// example, not part of the package.
import AgoraRTM, {
  RtmInvalidStatusError,
  type LocalInvitation,
  type RemoteInvitation,
  type RtmClient,
  type ReceivedMessage,
} from "./agora.js";

async function fetchToken(uid: string): Promise<string> {
  const res = await fetch(`/token?uid=${encodeURIComponent(uid)}`);
  return ((await res.json()) as { token: string }).token;
}

export async function start(uid: string): Promise<RtmClient> {
  const client = AgoraRTM.createInstance("your-app-id", { logFilter: AgoraRTM.LOG_FILTER_WARNING });
  client
    .on("ConnectionStateChanged", (state, reason) => {
      if (state === AgoraRTM.ConnectionState.ABORTED) console.warn("aborted:", reason);
    })
    .on("TokenPrivilegeWillExpire", async () => client.renewToken(await fetchToken(uid)))
    .on("TokenExpired", async () => client.login({ uid, token: await fetchToken(uid) }))
    .on("FallbackProxyConnected", () => {}) // any event name is accepted
    .on("MessageFromPeer", (message: ReceivedMessage, peerId: string) => {
      if (message.messageType === "RAW") console.log(peerId, message.rawMessage.length, "bytes");
      else console.log(peerId, message.text);
    })
    .on("RemoteInvitationReceived", (invitation: RemoteInvitation) => {
      invitation.on("RemoteInvitationCanceled", (content: string) => console.log("canceled", content));
      invitation.on("RemoteInvitationFailure", (reason) => {
        if (reason === AgoraRTM.RemoteInvitationFailureReason.ANSWERED_ELSEWHERE) console.log("answered elsewhere");
      });
      invitation.response = "on my way";
      invitation.accept();
    });
  await client.login({ uid, token: await fetchToken(uid) });
  const online: Record<string, boolean> = await client.queryPeersOnlineStatus(["bob"]);
  console.log(online["bob"]);
  return client;
}

export function call(client: RtmClient, peer: string): LocalInvitation {
  const invitation = client.createLocalInvitation(peer);
  invitation.content = "video call";
  invitation.channelId = "room-1";
  invitation.on("LocalInvitationAccepted", (response: string) => console.log("accepted:", response));
  invitation.on("LocalInvitationFailure", (reason) => {
    if (reason === AgoraRTM.LocalInvitationFailureReason.PEER_OFFLINE) console.log(peer, "is offline");
  });
  invitation.send();
  return invitation;
}

export async function hangUp(client: RtmClient, invitation: LocalInvitation): Promise<void> {
  try {
    invitation.cancel();
  } catch (err) {
    if (err instanceof RtmInvalidStatusError && err.code === 3) {
      const { hasPeerReceived } = await client.sendMessageToPeer({ text: "hangup" }, invitation.calleeId);
      console.log("hung up", hasPeerReceived);
    }
  }
}
