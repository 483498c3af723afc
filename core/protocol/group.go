package protocol

// Group invitations (docs/PROTOCOL.md "Groups"): one send rings several
// callees. The mode says who gets the call.
const (
	// GroupFirst is a hunt group: every device of every callee rings and
	// the first accept wins.
	GroupFirst = "first"
	// GroupAll is a group call: each callee answers for themselves.
	GroupAll = "all"
	// MinGroupCallees and MaxGroupCallees bound the callees of a group
	// invitation; a server may lower the upper bound (server.Config.MaxGroupCallees).
	MinGroupCallees = 2
	MaxGroupCallees = 16
)

// ValidateGroup checks a group send: no "callee", a mode of "first" or
// "all", and 2 to MaxGroupCallees distinct valid user ids.
func ValidateGroup(callee string, callees []string, mode string) error {
	if callee != "" {
		return Errorf(CodeInvalidArgument, `a group send has "callees", not "callee"`)
	}
	if mode != GroupFirst && mode != GroupAll {
		return Errorf(CodeInvalidArgument, `a group's mode must be "first" or "all", got %q`, mode)
	}
	if len(callees) < MinGroupCallees || len(callees) > MaxGroupCallees {
		return Errorf(CodeInvalidArgument, "a group has %d to %d callees, got %d", MinGroupCallees, MaxGroupCallees, len(callees))
	}
	for i, id := range callees {
		if err := ValidateUserID(id); err != nil {
			return err
		}
		for _, prev := range callees[:i] {
			if prev == id {
				return Errorf(CodeInvalidArgument, "callee %q appears twice", id)
			}
		}
	}
	return nil
}
