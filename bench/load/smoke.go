package main

import (
	"context"
	"fmt"
	"time"
)

// runSmoke is the CI check that the tool works: a short P1 and a small P2
// (about 30 s together). It asserts that sends happened and that every
// delivery arrived exactly once; it asserts no speed.
func runSmoke(ctx context.Context, o opts, r *report) error {
	o.p1Conns, o.p1Users = 10, 100
	base, parley, err := p1(ctx, o, 4*time.Second)
	if err != nil {
		return err
	}
	r.addInfo("P1", "smoke sends/s", "1/s", parley.rate(), base.rate())
	o.p2Clients, o.p2BaseClients, o.p2Rate, o.p2Dur = 200, 10, 200, 6*time.Second
	p2, p2base, err := runP2(ctx, o, r, true)
	if err != nil {
		return err
	}
	switch {
	case parley.ops == 0 || base.ops == 0:
		return fmt.Errorf("smoke: P1 made no sends (parley %d, baseline %d)", parley.ops, base.ops)
	case parley.errs != 0 || base.errs != 0:
		return fmt.Errorf("smoke: P1 failed sends (parley %d, baseline %d)", parley.errs, base.errs)
	case p2.sent == 0 || p2.delivered == 0:
		return fmt.Errorf("smoke: P2 sent %d and delivered %d", p2.sent, p2.delivered)
	case p2.lost+p2base.lost != 0 || p2.dup+p2base.dup != 0 || p2.failed+p2base.failed != 0 || p2.stray+p2base.stray != 0:
		return fmt.Errorf("smoke: P2 lost %d+%d, duplicated %d+%d, failed %d+%d, stray %d+%d", p2.lost, p2base.lost,
			p2.dup, p2base.dup, p2.failed, p2base.failed, p2.stray, p2base.stray)
	}
	fmt.Println("smoke: ok")
	return nil
}
