package push

import "time"

// SetRefuseTimeout shortens how long /push/refuse waits for the
// invitation's owner, so that a test can make it time out first.
func (s *Service) SetRefuseTimeout(d time.Duration) { s.refuseTimeout = d }
