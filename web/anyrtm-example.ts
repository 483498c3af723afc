// A typed anyRTM call app on rtmcall/anyrtm; `make test-types` checks it with tsc --strict. It is an
// example, not part of the package.
import ArRTM, { RTMException, RtmErrorCode, RtmStatusCode, type LocalInvitation, type RtmClient } from "./anyrtm.js";

export async function start(uid: string, token: string): Promise<RtmClient> {
  const client = ArRTM.createInstance("a1b2c3d4e5f60718293a4b5c6d7e8f90", { logFilter: ArRTM.LOG_FILTER_ERROR });
  client.on("TokenWillExpired", () => console.log("renew the token"));
  client.on("TokenDidExpired", () => console.log("log in again"));
  client.on("ConnectionStateChanged", (state, reason) => {
    if (state === RtmStatusCode.ConnectionState.CONNECTED) console.log("online", reason);
  });
  client.on("RemoteInvitationReceived", (invitation) => invitation.refuse());
  try {
    await client.login({ uid, token });
  } catch (err) {
    if (err instanceof RTMException && err.code === RtmErrorCode.LoginError.LOGIN_ERR_TOKEN_EXPIRED) {
      console.log("token expired");
    }
    throw err;
  }
  return client;
}

export function call(client: RtmClient, peer: string): LocalInvitation {
  const invitation = client.createLocalInvitation(peer);
  invitation.content = JSON.stringify({ mode: "audio" });
  invitation.on("LocalInvitationRefused", (response: string) => console.log(JSON.parse(response)));
  invitation.send();
  return invitation;
}
