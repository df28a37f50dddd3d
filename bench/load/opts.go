package main

import (
	"errors"
	"fmt"
	"time"
)

// checkOpts rejects flag values no scenario can run with, naming the flag,
// before anything starts.
func checkOpts(o opts) error {
	var errs []error
	atLeast := func(flag string, v, min int, what string) {
		if v < min {
			errs = append(errs, fmt.Errorf("%s %d: must be at least %d (%s)", flag, v, min, what))
		}
	}
	positive := func(flag string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %s: must be positive", flag, d))
		}
	}
	if o.redisURL == "" {
		errs = append(errs, errors.New("-redis \"\": a Redis URL is required"))
	}
	atLeast("-p1-conns", o.p1Conns, 1, "connections")
	atLeast("-p1-users", o.p1Users, 2, "a send needs two distinct users")
	atLeast("-p1-rounds", o.p1Rounds, 1, "rounds")
	positive("-p1-dur", o.p1Dur)
	atLeast("-p2-clients", o.p2Clients, 2, "a send needs two distinct users")
	if o.p2BaseClients != 0 {
		atLeast("-p2-base-clients", o.p2BaseClients, 2, "a send needs two distinct users; 0 = no baseline run")
	}
	atLeast("-p2-rate", o.p2Rate, 1, "sends per second")
	positive("-p2-dur", o.p2Dur)
	return errors.Join(errs...)
}
