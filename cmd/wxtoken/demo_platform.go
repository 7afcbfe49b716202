package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/simulator"
)

// The demo's third-party platform and the two accounts that authorize it
// through the simulator. Its secret and message Token live only inside
// the demo process; its EncodingAESKey and the store key that seals the
// authorizers' refresh tokens are made afresh by each run.
const (
	demoComponentAppID  = "wx0000000000c0de01"
	demoComponentSecret = "demo-component-secret-not-a-real-one"
	demoMsgToken        = "demoMsgToken"
)

// demoAuthorizers are the accounts that authorize the demo's platform.
var demoAuthorizers = [...]string{"wx00000000acc0de01", "wx00000000acc0de02"}

// demoPushInterval is how often the simulator pushes the demo's platform
// a component_verify_ticket: WeChat's ten minutes compressed, so that
// pushes are seen arriving (with -v) within a minute or so, but not so
// often that a short --ttl floods the server with them.
func demoPushInterval(ttl time.Duration) time.Duration {
	return max(ttl/120, 5*time.Second)
}

// demoEventURL is the platform's events endpoint on the server listening
// at addr, as the simulator reaches it: an address that listens on every
// interface is reached through the loopback one.
func demoEventURL(addr net.Addr) string {
	host := addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	return "http://" + host + "/v1/platforms/" + demoComponentAppID + "/events"
}

// demoAESKey returns a random EncodingAESKey: 43 characters of base64
// that decode to 32 bytes, as the open platform's settings show one.
func demoAESKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("demo: random bytes: %w", err)
	}
	return base64.RawStdEncoding.EncodeToString(b[:]), nil
}

// demoAuthorize has the demo's accounts authorize its platform, as WeChat
// would: the simulator pushes a verify ticket to the server's events
// endpoint, the server fetches the component token with it, and then
// each account's admin agrees, which pushes "authorized" for the server
// to exchange. It returns once every push was answered "success", so the
// curl lines printed next work at once.
func demoAuthorize(ctx context.Context, sim *simulator.Simulator, engine *refresh.Engine) error {
	// The server asked for a ticket at start (it had none); this push
	// makes sure one arrives now that it is serving.
	if _, push, err := sim.PushVerifyTicket(ctx, demoComponentAppID); err != nil {
		return err
	} else if !push.Success {
		return fmt.Errorf("demo: the verify ticket push failed: %s", pushProblem(push))
	}
	if err := awaitComponentToken(ctx, engine); err != nil {
		return err
	}
	for _, a := range demoAuthorizers {
		auth, err := sim.Authorize(ctx, simulator.AuthorizeRequest{ComponentAppID: demoComponentAppID, AuthorizerAppID: a})
		if err != nil {
			return err
		}
		if !auth.Push.Success {
			return fmt.Errorf("demo: the authorized push for %s failed: %s", a, pushProblem(auth.Push))
		}
	}
	return nil
}

// awaitComponentToken waits until the engine holds the platform's
// component token, which it fetches in the background once the verify
// ticket is stored: an authorized push is exchanged with that token.
func awaitComponentToken(ctx context.Context, engine *refresh.Engine) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := engine.Credential(ctx, demoComponentAppID, wxtoken.KindAccessToken)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("demo: no component token within 10 s of the verify ticket: %w", err)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// pushProblem says why a push was not answered "success".
func pushProblem(p simulator.PushResult) string {
	if p.Error != "" {
		return p.Error
	}
	return fmt.Sprintf("answered HTTP %d %q", p.Status, p.Answer)
}
