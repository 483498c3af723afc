package server

// A goroutine starts with a 2 KiB stack, and the collector shrinks the stack
// of an idle one. Growing a stack copies it and walks every frame on it,
// which costs tens of thousands of instructions at the depth of a WebSocket
// upgrade, a request or a log line: in the callgrind profile of rtmcall-server
// taking logins, 5 growths per login took a third of its instructions.
// reserveStack and reserveUpgradeStack grow the stack at once, at a shallow
// point where there are few frames to walk, to the size the deep path
// needs; when the stack already has it, they cost the clearing of a frame.

// reserveStack, at the start of a connection's read loop, makes the stack
// 8 KiB, which the login and its logs fit in (a 2 KiB stack used up to about
// 3 KiB grows to 8 KiB at once). Only once: the collector shrinks an idle
// connection's stack back to 4 KiB, which the memory per idle connection
// needs more than a later request needs the room.
//
//go:noinline
func reserveStack() {
	var b [4 << 10]byte
	touch(b[:])
}

// reserveUpgradeStack, on net/http's goroutine before the upgrade, makes
// the stack 16 KiB: the upgrade runs deeper than 8 KiB. Still with gobwas/ws's
// shallower upgrade: without it the goroutine grows as often, deeper down
// (callgrind, 3.0 growths per login either way, 49k instructions in them
// against 33k).
//
//go:noinline
func reserveUpgradeStack() {
	var b [12 << 10]byte
	touch(b[:])
}

// touch keeps its caller's frame: the compiler cannot see through it.
//
//go:noinline
func touch(b []byte) { b[len(b)-1] = 0 }
