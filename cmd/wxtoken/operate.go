package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/wxtoken/wxtoken"
)

// runRetry has the server lift the error policy's hold on an app, a WeCom
// agent or an authorizer and try once now, and prints its status after
// the try.
func runRetry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("retry", stderr)
	cf := addClientFlags(fs, "print the status after the try as JSON")
	tf := addTargetFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	tg, err := targetArg(pos, tf)
	if err != nil {
		return err
	}
	c, err := cf.client(os.LookupEnv)
	if err != nil {
		return err
	}
	st, err := c.RetryNow(ctx, tg.id)
	if err != nil {
		return clientFailure(err)
	}
	if cf.json {
		return printJSON(stdout, st)
	}
	return printStatus(stdout, []wxtoken.AppStatus{st}, time.Now())
}

// runClearQuota has the server clear an app's daily quotas at WeChat,
// which spends one of the 10 clears WeChat allows an account a month: it
// asks for --yes to say so.
func runClearQuota(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("clear-quota", stderr)
	cf := addClientFlags(fs, "print the server's answer as JSON")
	yes := fs.Bool("yes", false, "confirm spending one of the app's 10 quota clears of this month")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0 || pos[0] == "":
		return fmt.Errorf("%w: APPID is required", errUsage)
	case len(pos) > 1:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[1])
	case !*yes:
		return fmt.Errorf("%w: clearing the quota spends one of the app's 10 clears of this month: pass --yes to do it", errUsage)
	}
	c, err := cf.client(os.LookupEnv)
	if err != nil {
		return err
	}
	res, err := c.ClearQuota(ctx, pos[0])
	if err != nil {
		return clientFailure(err)
	}
	if cf.json {
		out := struct {
			AppID string               `json:"appid"`
			Left  int                  `json:"clear_remaining_this_month"`
			Quota *wxtoken.QuotaStatus `json:"quota,omitempty"`
		}{pos[0], res.ClearRemainingThisMonth, res.Quota}
		return printJSON(stdout, out)
	}
	if _, err := fmt.Fprintf(stdout, "cleared the quota of %s; clears left this month: %d\n", pos[0], res.ClearRemainingThisMonth); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if q := res.Quota; q != nil {
		if _, err := fmt.Fprintf(stdout, "%s: %d of %d used today\n", q.CGIPath, q.Used, q.DailyLimit); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	return nil
}
