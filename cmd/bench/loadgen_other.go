//go:build !linux

package main

import (
	"errors"
	"time"
)

func runClients(addr, token string, first, n int, measureFrom, deadline time.Time) ([]time.Duration, int, error) {
	return nil, 0, errors.New("the serve benchmark's load generator needs Linux (epoll)")
}
