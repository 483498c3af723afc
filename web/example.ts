// A typed tour of the whole rtmcall API; `make test-types` checks it with tsc --strict. It is an example,
// not part of the package: copy what you need.
import {
  load,
  type CallDelegate,
  type CalleeState,
  type CalleeUpdate,
  type GroupInfo,
  type GroupMode,
  type CallEndReason,
  type PeerMessageSendResult,
  type ReceivedMessage,
  type ReceivedMessageProperties,
  type ConnectionChangeReason,
  type ConnectionState,
  type Kit,
  type LocalInvitation,
  type LocalInvitationFailureReason,
  type PeerOnlineState,
  type RemoteInvitation,
  type RemoteInvitationFailureReason,
  type RtmClient,
  type RtmError,
  type PushSubscriptionData,
} from "./rtmcall.js";
import { readLaunch, type Launch } from "./rtmcall-sw.js";

function isRtmError(e: unknown): e is RtmError {
  return e instanceof Error && e.name === "RtmError";
}

// fetchToken stands for your backend, which signs a JWT for the user.
async function fetchToken(userId: string): Promise<string> {
  const res = await fetch(`/token?user=${encodeURIComponent(userId)}`);
  return res.text();
}

export async function connect(userId: string): Promise<{ kit: Kit; client: RtmClient }> {
  const kit = await load({ wasmUrl: new URL("./rtmcall.wasm", import.meta.url) });
  const same: Kit = await load(); // the same kit
  console.log(same === kit, kit.version);

  const client = kit.createClient({ url: "ws://127.0.0.1:8080/ws", requestTimeoutMs: 5000 });
  client.on("ConnectionStateChanged", (state: ConnectionState, reason: ConnectionChangeReason) => {
    if (state === kit.ConnectionState.ABORTED) console.warn("the session could not be resumed", reason);
  });
  client.on("PeersOnlineStatusChanged", (status: Record<string, PeerOnlineState>) => {
    for (const [peer, s] of Object.entries(status)) console.log(peer, s === kit.PeerOnlineState.ONLINE);
  });
  client.on("TokenPrivilegeWillExpire", async () => {
    await client.renewToken(await fetchToken(userId));
  });
  client.on("RemoteInvitationReceived", answer);
  client.on("MessageFromPeer", (message: ReceivedMessage, peerId: string, props: ReceivedMessageProperties) => {
    if (message.messageType === "TEXT") console.log(peerId, message.text, props.serverReceivedTs);
    else console.log(peerId, message.rawMessage.byteLength, message.description);
  });

  try {
    await client.login(userId, await fetchToken(userId), { callWaiting: true });
  } catch (e) {
    if (isRtmError(e) && e.code === kit.ErrorCode.INVALID_TOKEN) console.error("bad token:", e.message);
    throw e;
  }
  console.log(client.userId, client.connectionState, JSON.stringify(client));
  return { kit, client };
}

// answer accepts calls that carry a channel and refuses the others.
function answer(remote: RemoteInvitation): void {
  const { callerId, content, channelId, id } = remote;
  console.log(`${callerId} calls (${id}): ${content}`);
  if (remote.calleeBusy) {
    void remote.ignore(); // in a call already: let the other devices ring, or let it expire
    return;
  }
  remote.on("CallEnded", (reason: CallEndReason, by: string) => console.log("call over", reason, by, remote.callState));
  remote.on("RemoteInvitationCanceled", (content: string) => console.log("canceled:", content));
  remote.on("RemoteInvitationFailure", (reason: RemoteInvitationFailureReason) => {
    if (reason === "ANSWERED_ELSEWHERE") console.log("picked up on another device");
  });
  remote.on("RemoteInvitationAccepted", () => console.log("joining", remote.channelId));
  remote.on("RemoteInvitationRefused", () => console.log("refused", remote.state));
  remote.response = channelId ? "on my way" : "no channel, no call";
  const done: Promise<void> = channelId ? remote.accept() : remote.refuse();
  done.catch((e: unknown) => {
    // Another device answered first, or the caller canceled: ALREADY_END.
    if (isRtmError(e) && e.codeName === "ALREADY_END") return;
    console.error(e);
  });
}

export async function call(kit: Kit, client: RtmClient, peer: string): Promise<string> {
  const online: Record<string, boolean> = await client.queryPeersOnlineStatus([peer]);
  if (!online[peer]) return kit.LocalInvitationFailureReason.PEER_OFFLINE;
  await client.subscribePeersOnlineStatus([peer]);

  const local: LocalInvitation = client.createLocalInvitation(peer);
  local.content = "Lunch?";
  local.channelId = "room-1";
  local.timeoutMs = 30_000;
  const outcome = new Promise<string>((resolve) => {
    local.on("LocalInvitationReceivedByPeer", () => console.log("ringing", local.state));
    local.on("LocalInvitationWaking", (windowMs: number) => console.log(`offline; notifying devices for ${windowMs} ms`));
    local.on("LocalInvitationAccepted", (response: string) => resolve(`accepted: ${response}`));
    local.on("LocalInvitationRefused", (response: string) => resolve(`refused: ${response}`));
    local.on("LocalInvitationCanceled", () => resolve("canceled"));
    local.on("LocalInvitationFailure", (reason: LocalInvitationFailureReason) => resolve(reason));
  });
  const onFailure = (reason: LocalInvitationFailureReason) => console.log(reason);
  local.on("LocalInvitationFailure", onFailure);
  local.off("LocalInvitationFailure", onFailure);
  local.off("LocalInvitationCanceled");

  await local.send();
  console.log(local.id, local.state, local.response, local.calleeId, local.toJSON().timeoutMs);
  const timer = setTimeout(() => {
    local.cancel().catch((e: unknown) => console.log(isRtmError(e) ? e.codeName : e));
  }, 10_000);
  const result = await outcome;
  clearTimeout(timer);
  if (local.callState === kit.CallState.IN_CALL) {
    // Carry the WebRTC offer on the signaling connection, then hang up.
    const sent: PeerMessageSendResult = await client.sendMessageToPeer({ text: "offer: v=0" }, peer);
    await client.sendMessageToPeer({ rawMessage: new Uint8Array([1, 2, 3]), description: "ice" }, peer);
    local.on("CallEnded", (reason: CallEndReason) => console.log(reason === kit.CallEndReason.HANGUP));
    if (sent.hasPeerReceived) await local.hangup();
  }
  await client.setCallWaiting(true);
  await client.unsubscribePeersOnlineStatus([peer]);
  return result;
}

// Ring a hunt group and show who took it; then a group call, with each callee's leg.
export async function ringGroup(kit: Kit, client: RtmClient): Promise<string> {
  const hunt: LocalInvitation = client.createGroupInvitation(["ann", "ben", "cat"], { mode: "first" });
  hunt.content = "support";
  hunt.on("LocalInvitationCallee", (u: CalleeUpdate) => {
    const state: CalleeState = u.state;
    if (state === kit.CalleeState.FAILURE) console.log(u.calleeId, u.reason ?? "");
    console.log(u.calleeId, state, u.response ?? "", hunt.callees?.[u.calleeId]);
  });
  const taken = new Promise<string>((resolve) => hunt.on("LocalInvitationAccepted", () => resolve(hunt.acceptedBy)));
  await hunt.send();
  const who = await taken;

  const group: LocalInvitation = client.createGroupInvitation(["ann", "ben"], { mode: "all" });
  const mode: GroupMode | null = group.mode;
  group.on("CalleeCallEnded", (calleeId: string, reason: CallEndReason, by: string) =>
    console.log(mode, calleeId, reason, by, group.inCallWith.length));
  await group.send();
  return who;
}

// A callee's app answers group invitations like any other; it may show the group.
export function answerGroup(client: RtmClient): void {
  client.on("RemoteInvitationReceived", (r: RemoteInvitation) => {
    const g: GroupInfo | null = r.group;
    if (g !== null) console.log(g.mode, g.callees.join(", "));
    r.on("RemoteInvitationFailure", (reason) => {
      if (reason === "ANSWERED_BY_OTHER") console.log("taken by", r.answeredBy);
    });
    void r.accept();
  });
}

// The iOS-style delegate: every hook is optional.
export function useDelegate(client: RtmClient): void {
  const delegate: CallDelegate = {
    remoteInvitationReceived: (r: RemoteInvitation) => console.log("incoming", r.callerId),
    localInvitationReceivedByPeer: (l: LocalInvitation) => console.log("ringing", l.calleeId),
    localInvitationAccepted: (l: LocalInvitation, response: string) => console.log(l.id, response),
    localInvitationRefused: (l: LocalInvitation, response: string) => console.log(l.id, response),
    localInvitationCanceled: (l: LocalInvitation) => console.log(l.state),
    localInvitationFailure: (l: LocalInvitation, reason: LocalInvitationFailureReason) => console.log(l.id, reason),
    remoteInvitationAccepted: (r: RemoteInvitation) => console.log(r.state),
    remoteInvitationRefused: (r: RemoteInvitation) => console.log(r.state),
    remoteInvitationCanceled: (r: RemoteInvitation) => console.log(r.content),
    remoteInvitationFailure: (r: RemoteInvitation, reason: RemoteInvitationFailureReason) => console.log(r.id, reason),
    callEnded: (inv: LocalInvitation | RemoteInvitation, reason: CallEndReason, by: string) =>
      console.log(inv.id, inv.callState, reason, by),
  };
  client.setCallDelegate(delegate);
  client.setCallDelegate({ remoteInvitationReceived: (r) => void r.accept() });
  client.setCallDelegate(null);
}

// Web Push (docs/PUSH.md): the server wakes this browser when the user has no session; the service worker
// (sw.js: `import { installPush } from "rtmcall/sw"; installPush({ url: "/" });`) shows the call.
export async function notifyWhenClosed(kit: Kit, client: RtmClient): Promise<string> {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) return "this browser has no Web Push";
  const registration = await navigator.serviceWorker.register("/sw.js", { type: "module" });
  try {
    const sub: PushSubscriptionData = await client.enablePush(registration);
    return `registered ${new URL(sub.endpoint).host}`;
  } catch (e) {
    if (isRtmError(e) && e.code === kit.ErrorCode.PUSH_DENIED) return "notifications are blocked for this site";
    if (isRtmError(e) && e.code === kit.ErrorCode.PUSH_UNAVAILABLE) return `no push here: ${e.message}`;
    throw e;
  }
}

// The page a notification's click opened: log in, and accept the call when it rings (late ringing).
export function answerLaunch(client: RtmClient): void {
  const launch: Launch | null = readLaunch(location.href);
  if (!launch) return;
  client.on("RemoteInvitationReceived", (remote: RemoteInvitation) => {
    if (remote.id === launch.invitation && launch.action === "accept") void remote.accept();
  });
  navigator.serviceWorker.addEventListener("message", (e: MessageEvent) => {
    const again = readLaunch(e.data as { type?: unknown }); // a window that was open already is told
    if (again) console.log("clicked", again.invitation, again.action);
  });
}

export async function leave(kit: Kit, client: RtmClient): Promise<void> {
  await client.disablePush();
  await client.logout({ disablePush: true });
  const codes: number[] = [kit.ErrorCode.ALREADY_END, kit.ErrorCode.NOT_LOGGED_IN];
  const states: string[] = [...Object.values(kit.LocalInvitationState), ...Object.keys(kit.RemoteInvitationState)];
  console.log(codes, states, kit.LocalInvitationFailureReason.PEER_OFFLINE, kit.ConnectionChangeReason.LOGOUT);
  console.log(kit.RemoteInvitationFailureReason.ANSWERED_ELSEWHERE, kit._debug.liveObjects().localInvitations);
}

// These must not compile: the types catch typos and misuse.
export function mistakes(client: RtmClient, local: LocalInvitation, remote: RemoteInvitation): void {
  // @ts-expect-error: an unknown event name
  client.on("RemoteInvitationRecieved", () => {});
  // @ts-expect-error: the handler's argument is a RemoteInvitation
  client.on("RemoteInvitationReceived", (x: number) => x);
  // @ts-expect-error: a local invitation's state is read-only
  local.state = "CANCELED";
  // @ts-expect-error: the response is the callee's
  local.response = "x";
  // @ts-expect-error: the caller is set by the server
  remote.callerId = "mallory";
  // @ts-expect-error: a remote invitation has no cancel
  void remote.cancel();
  // @ts-expect-error: ids are an array
  void client.queryPeersOnlineStatus("bob");
  // @ts-expect-error: a message is {text} or {rawMessage}, not a string
  void client.sendMessageToPeer("hi", "bob");
  // @ts-expect-error: the call state is read-only
  remote.callState = "ENDED";
  // @ts-expect-error: enablePush needs a registration or a subscription
  void client.enablePush("https://push.example/endpoint");
  // @ts-expect-error: login's option is a boolean
  void client.login("bob", undefined, { callWaiting: 1 });
  // @ts-expect-error: logout's option is a boolean
  void client.logout({ disablePush: "yes" });
  // @ts-expect-error: a group's mode is first or all
  client.createGroupInvitation(["ann", "ben"], { mode: "any" });
  // @ts-expect-error: the callee states are the server's
  local.callees = {};
}
