package ssh

import (
	"errors"
	"time"
)

var errKeepAliveTimeout = errors.New("keepalive unanswered")

// keepAlive probes the server every interval and closes the client when a
// probe fails or stays unanswered for a whole interval. Without it, a host
// that vanished without a TCP reset would hang every later session until
// the kernel gives up, which can take hours.
func (c *Client) keepAlive(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
		}
		if err := c.ping(interval); err != nil {
			c.Close()
			return
		}
	}
}

// ping sends one keepalive@openssh.com request. Servers answer it with
// "failure" (they don't know the request); any answer proves the
// connection alive.
func (c *Client) ping(within time.Duration) error {
	answer := make(chan error, 1)
	go func() {
		_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
		answer <- err
	}()
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case err := <-answer:
		return err
	case <-timer.C:
		return errKeepAliveTimeout
	case <-c.closed:
		return nil
	}
}
