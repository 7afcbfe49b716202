package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
)

// platformUsage is the usage line of the platform verb.
const platformUsage = "authorizers --component COMPONENT_APPID | import --component COMPONENT_APPID FILE"

// runPlatform runs the subcommands about a third-party platform's
// authorizers, which need an admin key.
func runPlatform(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: a subcommand is required: authorizers or import", errUsage)
	}
	switch args[0] {
	case "authorizers":
		return runPlatformAuthorizers(ctx, args[1:], stdout, stderr)
	case "import":
		return runPlatformImport(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintf(stderr, "usage: wxtoken platform %s\n", platformUsage)
		return flag.ErrHelp
	}
	return fmt.Errorf("%w: unknown subcommand %q: want authorizers or import", errUsage, args[0])
}

// addComponentFlag defines --component on fs.
func addComponentFlag(fs *flag.FlagSet) *string {
	return fs.String("component", "", "the third-party platform's `COMPONENT_APPID` (required)")
}

func checkComponentFlag(comp string) error {
	switch {
	case comp == "":
		return fmt.Errorf("%w: --component is required", errUsage)
	case strings.ContainsAny(comp, ":/"):
		return fmt.Errorf("%w: --component %q: want a component_appid, such as wx0123456789abcdef", errUsage, comp)
	}
	return nil
}

// runPlatformAuthorizers prints every authorizer of a platform and the
// state of its credentials; --json gives the whole list for tools.
func runPlatformAuthorizers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("platform authorizers", stderr)
	cf := addClientFlags(fs, "print the whole list as JSON")
	comp := addComponentFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	if err := checkComponentFlag(*comp); err != nil {
		return err
	}
	c, err := cf.client(os.LookupEnv)
	if err != nil {
		return err
	}
	list, err := c.Authorizers(ctx, *comp)
	if err != nil {
		return clientFailure(err)
	}
	if list == nil {
		list = []wxtoken.AuthorizerStatus{}
	}
	if cf.json {
		return printJSON(stdout, list)
	}
	return printAuthorizers(stdout, list, time.Now())
}

// printAuthorizers writes one row per authorizer credential, as status
// does for apps.
func printAuthorizers(w io.Writer, list []wxtoken.AuthorizerStatus, now time.Time) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no authorizers")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AUTHORIZER\tSTATE\tKIND\tCREDENTIAL\tEXPIRES IN\tLAST ERROR\tNOTE")
	for _, a := range list {
		note := strings.Join(strings.Fields(a.Note), " ")
		if note == "" {
			note = "-"
		}
		if len(a.Credentials) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t%s\n", a.AuthorizerAppID, a.State, note)
		}
		for _, cr := range a.Credentials {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.AuthorizerAppID, a.State, cr.Kind, cr.State,
				until(cr.ExpiresAt, now, "expired"), lastError(cr.LastError), note)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// importRow is one authorizer of an import file, with the line it is on.
type importRow struct {
	line         int
	appID        string
	refreshToken string
}

// runPlatformImport imports the authorizers that another system knows,
// by their refresh tokens, from a JSON or CSV file ("-" for standard
// input). The whole file is checked before anything is imported, so that
// a mistake in it imports nothing. It prints one line per authorizer,
// never its refresh token, and a summary; any failure exits 1.
func runPlatformImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("platform import", stderr)
	cf := addClientFlags(fs, "")
	comp := addComponentFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return fmt.Errorf("%w: FILE is required: a JSON array of {\"authorizer_appid\", \"refresh_token\"}, or a CSV file with the header authorizer_appid,refresh_token", errUsage)
	case len(pos) > 1:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[1])
	}
	if err := checkComponentFlag(*comp); err != nil {
		return err
	}
	name := pos[0]
	var data []byte
	if name == "-" {
		data, err = io.ReadAll(os.Stdin)
		name = "standard input"
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return fmt.Errorf("reading the import file: %w", err)
	}
	rows, err := parseImport(data)
	if err != nil {
		return fmt.Errorf("%s: %w (nothing was imported)", name, err)
	}
	c, err := cf.client(os.LookupEnv)
	if err != nil {
		return err
	}
	return importAuthorizers(ctx, c, *comp, rows, stdout)
}

// importAuthorizers imports rows one by one and reports each. A refused
// key stops the import: no other row could succeed.
func importAuthorizers(ctx context.Context, c *client.Client, comp string, rows []importRow, w io.Writer) error {
	imported, failed := 0, 0
	for i, r := range rows {
		st, err := c.ImportAuthorizer(ctx, comp, r.appID, r.refreshToken)
		if err != nil {
			failed++
			fmt.Fprintf(w, "%s\tfailed: %v\n", r.appID, clientFailure(err))
			if code := wxtoken.ErrorCode(err); code == wxtoken.EUnauthorized || code == wxtoken.EForbidden || ctx.Err() != nil {
				left := len(rows) - i - 1
				fmt.Fprintf(w, "stopped: %d authorizer(s) not tried (importing needs an admin client key granted to this server)\n", left)
				failed += left
				break
			}
			continue
		}
		imported++
		result := "imported (" + string(st.State) + ")"
		if st.Note != "" {
			result += ": " + strings.Join(strings.Fields(st.Note), " ")
		}
		fmt.Fprintf(w, "%s\t%s\n", r.appID, result)
	}
	fmt.Fprintf(w, "%d of %d authorizer(s) imported, %d failed\n", imported, len(rows), failed)
	if failed > 0 {
		return exitCode(1)
	}
	return nil
}

// parseImport reads an import file: a JSON array of objects with
// authorizer_appid and refresh_token (other fields are ignored), or CSV
// with a header line naming the columns authorizer_appid and
// refresh_token. Errors name the line, never a refresh token.
func parseImport(data []byte) ([]importRow, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM from a spreadsheet
	var (
		rows []importRow
		err  error
	)
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
		rows, err = parseImportJSON(data)
	} else {
		rows, err = parseImportCSV(data)
	}
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errors.New("no authorizers in the file")
	}
	seen := make(map[string]int, len(rows))
	for _, r := range rows {
		switch {
		case r.appID == "":
			return nil, fmt.Errorf("line %d: authorizer_appid is empty", r.line)
		case strings.ContainsAny(r.appID, ":/ \t"):
			return nil, fmt.Errorf("line %d: authorizer_appid %q is not an appid", r.line, r.appID)
		case r.refreshToken == "":
			return nil, fmt.Errorf("line %d: refresh_token is empty", r.line)
		}
		if first, dup := seen[r.appID]; dup {
			return nil, fmt.Errorf("line %d: authorizer %s is already on line %d", r.line, r.appID, first)
		}
		seen[r.appID] = r.line
	}
	return rows, nil
}

// lineAt is the line number of byte offset off of data.
func lineAt(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

func parseImportJSON(data []byte) ([]importRow, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // the '['
		return nil, jsonLineError(data, dec, err)
	}
	var rows []importRow
	for dec.More() {
		// The element starts at the first byte after the separator.
		start := dec.InputOffset()
		for start < int64(len(data)) && strings.IndexByte(" \t\r\n,", data[start]) >= 0 {
			start++
		}
		var v struct {
			AuthorizerAppID *string `json:"authorizer_appid"`
			RefreshToken    *string `json:"refresh_token"`
		}
		if err := dec.Decode(&v); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				if typeErr.Field == "" {
					return nil, fmt.Errorf("line %d: want an object with authorizer_appid and refresh_token", lineAt(data, start))
				}
				return nil, fmt.Errorf("line %d: %s must be a string", lineAt(data, typeErr.Offset), typeErr.Field)
			}
			return nil, jsonLineError(data, dec, err)
		}
		r := importRow{line: lineAt(data, start)}
		if v.AuthorizerAppID == nil || v.RefreshToken == nil {
			return nil, fmt.Errorf("line %d: want an object with authorizer_appid and refresh_token", r.line)
		}
		r.appID, r.refreshToken = strings.TrimSpace(*v.AuthorizerAppID), strings.TrimSpace(*v.RefreshToken)
		rows = append(rows, r)
	}
	if _, err := dec.Token(); err != nil { // the ']'
		return nil, jsonLineError(data, dec, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("line %d: unexpected data after the JSON array", lineAt(data, dec.InputOffset()))
	}
	return rows, nil
}

// jsonLineError words a JSON syntax error with its line; it never quotes
// the file.
func jsonLineError(data []byte, dec *json.Decoder, err error) error {
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("line %d: not valid JSON", lineAt(data, syntax.Offset))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("line %d: the JSON array is not closed", lineAt(data, int64(len(data))))
	}
	return fmt.Errorf("line %d: not valid JSON", lineAt(data, dec.InputOffset()))
}

func parseImportCSV(data []byte) ([]importRow, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty")
	}
	if err != nil {
		return nil, csvLineError(err)
	}
	appCol, tokenCol := -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "authorizer_appid":
			appCol = i
		case "refresh_token":
			tokenCol = i
		}
	}
	if appCol < 0 || tokenCol < 0 {
		line, _ := r.FieldPos(0)
		return nil, fmt.Errorf("line %d: want a JSON array, or CSV whose header line names the columns authorizer_appid and refresh_token", line)
	}
	var rows []importRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, csvLineError(err)
		}
		line, _ := r.FieldPos(0)
		rows = append(rows, importRow{line: line, appID: strings.TrimSpace(rec[appCol]), refreshToken: strings.TrimSpace(rec[tokenCol])})
	}
}

// csvLineError words a CSV error with its line; it never quotes the file.
func csvLineError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return fmt.Errorf("line %d: the number of fields differs from the header line", pe.Line)
		}
		return fmt.Errorf("line %d: not valid CSV: %v", pe.StartLine, pe.Err)
	}
	return err
}
