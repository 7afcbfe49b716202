package ui

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
)

// row is one credential of one app as the status page shows it. It holds
// nothing secret: ids, names, times, counts and the last error, as GET
// /v1/apps serves them to admin keys.
type row struct {
	ID     string
	Family wxtoken.Family
	// Owner and Member are a WeCom agent's corpid and agentid, or an
	// authorizer's component_appid and authorizer_appid.
	Owner, Member string
	Name          string
	Kind          wxtoken.Kind
	State         string
	ExpiresAt     *time.Time
	NextRefreshAt *time.Time
	Version       uint64
	LastError     *wxtoken.ErrorInfo
	LeaseHolder   string
	CallsToday    int
	ForcesToday   int
	BlockedUntil  *time.Time
	// Quota is WeChat's count of the app's token calls today, nil when
	// unknown.
	Quota *wxtoken.QuotaStatus
	// Refreshable is false for a kind that is pushed rather than fetched
	// (a platform's verify ticket), which compare-and-refresh cannot renew.
	Refreshable bool
	// search is the lower-case text the search box matches, and rank the
	// family's place in the page's order.
	search string
	rank   int
}

// Held reports whether the error policy holds r back or its last try
// failed: where lifting the hold and trying once now changes something.
func (r row) Held() bool { return r.LastError != nil || r.BlockedUntil != nil }

// familyRank is f's place in the order the page shows the families.
func familyRank(f wxtoken.Family) int {
	if i := slices.Index(families(), f); i >= 0 {
		return i
	}
	return len(families())
}

// Families and states offered by the filters, in order.
func families() []wxtoken.Family {
	return []wxtoken.Family{wxtoken.FamilyApp, wxtoken.FamilyWeCom, wxtoken.FamilyComponent, wxtoken.FamilyAuthorizer}
}

func states() []string {
	return []string{wxtoken.StateFresh, wxtoken.StateStale, wxtoken.StateExpired, wxtoken.StateMissing, stateFailing}
}

// stateFailing is the filter that selects credentials with a last error,
// whatever their state.
const stateFailing = "failing"

// rowsOf flattens the apps' statuses into one row per credential, sorted
// by family, id and kind.
func rowsOf(apps []wxtoken.AppStatus) []row {
	n := 0
	for _, a := range apps {
		n += len(a.Credentials)
	}
	rows := make([]row, 0, n)
	for _, a := range apps {
		owner, member := a.CorpID, a.AgentID
		if a.Family == wxtoken.FamilyAuthorizer {
			owner, member = a.ComponentAppID, a.AuthorizerAppID
		}
		for _, c := range a.Credentials {
			r := row{
				ID: a.AppID, Family: a.Family, Owner: owner, Member: member, Name: a.Name,
				Kind: c.Kind, State: c.State, ExpiresAt: c.ExpiresAt, NextRefreshAt: c.NextRefreshAt,
				Version: c.Version, LastError: c.LastError, LeaseHolder: c.LeaseHolder,
				CallsToday: a.UpstreamCallsToday, ForcesToday: a.ForceRefreshesToday, BlockedUntil: a.BlockedUntil, Quota: a.Quota,
				Refreshable: c.Kind != wxtoken.KindVerifyTicket, rank: familyRank(a.Family),
			}
			parts := []string{a.AppID, string(a.Family), a.Name, owner, member, string(c.Kind), c.State, c.LeaseHolder}
			if c.LastError != nil {
				parts = append(parts, strconv.Itoa(c.LastError.ErrCode), c.LastError.Class, c.LastError.Message)
			}
			r.search = strings.ToLower(strings.Join(parts, "\x00"))
			rows = append(rows, r)
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Kind, b.Kind))
	})
	return rows
}

// query is what the status page was asked to show: its filters, search
// and page, read from the URL's query (none of it is secret).
type query struct {
	State  string
	Family string
	Search string
	Page   int
}

// maxSearch bounds the search text that is matched.
const maxSearch = 200

// parseQuery reads the filters from v, ignoring values it does not know.
func parseQuery(v url.Values) query {
	q := query{Page: 1}
	if s := v.Get("state"); slices.Contains(states(), s) {
		q.State = s
	}
	if f := wxtoken.Family(v.Get("family")); f.Valid() {
		q.Family = string(f)
	}
	q.Search = strings.TrimSpace(v.Get("q"))
	if len(q.Search) > maxSearch {
		q.Search = q.Search[:maxSearch]
	}
	if p, err := strconv.Atoi(v.Get("page")); err == nil && p > 1 {
		q.Page = p
	}
	return q
}

// values is q as URL query values, page left out when it is the first.
func (q query) values() url.Values {
	v := url.Values{}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.Family != "" {
		v.Set("family", q.Family)
	}
	if q.Search != "" {
		v.Set("q", q.Search)
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	return v
}

// URL is the status page's address for q.
func (q query) URL() string {
	if v := q.values().Encode(); v != "" {
		return Path + "?" + v
	}
	return Path
}

// withPage is q on page p.
func (q query) withPage(p int) query { q.Page = p; return q }

// match reports whether r passes q's filters and search.
func (q query) match(r *row, search string) bool {
	switch {
	case q.Family != "" && string(r.Family) != q.Family:
		return false
	case q.State == stateFailing && r.LastError == nil:
		return false
	case q.State != "" && q.State != stateFailing && r.State != q.State:
		return false
	case search != "" && !strings.Contains(r.search, search):
		return false
	}
	return true
}

// pageOf is what one page of the status table shows.
type pageOf struct {
	Rows []row
	// Total counts every row, Matched those that pass the filters.
	Total, Matched int
	// ByState and ByFamily count every row by state and by family.
	ByState  map[string]int
	ByFamily map[wxtoken.Family]int
	Page     int
	Pages    int
	// First and Last number the rows shown, from 1.
	First, Last int
}

// paginate filters rows by q and cuts out q's page of size rows.
func paginate(rows []row, q query, size int) pageOf {
	p := pageOf{Total: len(rows), ByState: map[string]int{}, ByFamily: map[wxtoken.Family]int{}}
	search := strings.ToLower(q.Search)
	matched := make([]int, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		p.ByState[r.State]++
		if r.LastError != nil {
			p.ByState[stateFailing]++
		}
		p.ByFamily[r.Family]++
		if q.match(r, search) {
			matched = append(matched, i)
		}
	}
	p.Matched = len(matched)
	p.Pages = max(1, (p.Matched+size-1)/size)
	p.Page = min(q.Page, p.Pages)
	start := (p.Page - 1) * size
	end := min(start+size, p.Matched)
	p.Rows = make([]row, 0, end-start)
	for _, i := range matched[start:end] {
		p.Rows = append(p.Rows, rows[i])
	}
	if end > start {
		p.First, p.Last = start+1, end
	}
	return p
}

// left says how long until t from now, as a short duration ("1h2m",
// "45s"), or how long ago ("12s ago"); "—" for none.
func left(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	d := t.Sub(now).Round(time.Second)
	if d < 0 {
		return shortDuration(-d) + " ago"
	}
	return shortDuration(d)
}

// shortDuration writes d in at most two units.
func shortDuration(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, d%time.Minute/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
