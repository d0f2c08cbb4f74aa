package sshtest

import (
	"net"
	"strconv"
	"time"
)

func dialTCP(host string, port uint32) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(int(port))), 5*time.Second)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}
