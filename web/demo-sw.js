// The demo's service worker ("notify me when the tab is closed" in index.html): rtmcall's push helper
// as a classic worker, which every browser with Web Push runs; a click opens the demo page, which logs in
// again and gets the invitation through late ringing (demo.js reads the launch).
importScripts("./rtmcall-sw.global.js");
RtmcallPush.installPush({ url: "./" });
