package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem with one config key. Key is a path such as
// "apps[1].appid", or "" when the problem is with the file as a whole.
type FieldError struct {
	Key     string
	Problem string
	// Err is the underlying cause, if any, for errors.Is; its text is
	// already part of Problem.
	Err error
}

func (e *FieldError) Error() string {
	if e.Key == "" {
		return e.Problem
	}
	return e.Key + ": " + e.Problem
}

func (e *FieldError) Unwrap() error { return e.Err }

// Load reads and parses the config file at path. Relative paths inside the
// file are resolved against the file's folder. env looks up environment
// variables; production passes os.LookupEnv.
func Load(path string, env func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data, filepath.Dir(abs), env)
	if err != nil {
		// Every problem goes on its own line under the file name.
		return nil, fmt.Errorf("config %s:\n%w", path, err)
	}
	return c, nil
}

// Parse decodes a YAML config, applies defaults, resolves secrets and
// relative paths (against baseDir) and validates the result. env looks up
// environment variables (nil means an empty environment). On failure the
// error joins one *FieldError per problem found; no message ever holds a
// secret value.
func Parse(data []byte, baseDir string, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	c := Default()
	var problems []*FieldError
	if err := decode(data, c, &problems); err != nil {
		return nil, err
	}
	ch := checker{baseDir: baseDir, env: env}
	ch.check(c)
	problems = append(problems, ch.problems...)
	if len(problems) > 0 {
		return nil, errors.Join(ch.scrubAll(problems)...)
	}
	c.Warnings = ch.scrubWarnings()
	return c, nil
}

// decode fills c from data. Syntax errors end parsing and are returned;
// problems with individual keys (unknown keys, values of the wrong type)
// are appended to problems so that validation still runs and the operator
// sees everything at once.
func decode(data []byte, c *Config, problems *[]*FieldError) error {
	// The text is parsed once, into a tree that both fills c and names
	// the keys: parsing it a second time for the decoder cost a third of
	// loading a config of 10,000 apps.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil // an empty file: defaults only, which validation rejects
	case err != nil:
		return &FieldError{Problem: err.Error(), Err: err}
	case len(doc.Content) == 0:
		return nil
	}

	// Decoding runs first: it refuses documents that alias their way to a
	// huge tree, which walk would otherwise expand. Unknown keys are left
	// to walk, which names them with their full path.
	err := doc.Decode(c)
	var te *yaml.TypeError
	if err != nil && !errors.As(err, &te) {
		return &FieldError{Problem: err.Error(), Err: err}
	}

	// Naming keys takes a walk that records the path of every value, a
	// fifth of loading a config of 100,000 apps; a file with no unknown
	// key and no value of the wrong type, the usual one, needs only the
	// quick look.
	fields := fieldCache{}
	root := reflect.TypeOf(c).Elem()
	if te != nil || !fields.known(doc.Content[0], root) {
		idx := keyIndex{lines: map[int][]valueAt{}, unknown: map[int]bool{}, fields: fields}
		idx.walk(doc.Content[0], root, "")
		*problems = append(*problems, idx.problems...)
		if te != nil {
			for _, msg := range te.Errors {
				if fe := idx.fieldError(msg); fe != nil {
					*problems = append(*problems, fe)
				}
			}
		}
	}
	// A second document would be silently ignored; refuse it instead.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		*problems = append(*problems, &FieldError{Problem: "the file must hold a single YAML document"})
	}
	return nil
}

// keyIndex maps the YAML tree onto the Config type: it records the key
// path of every value node, so that the decoder's line-numbered messages
// can name their key, and it reports unknown keys with their full path.
type keyIndex struct {
	// lines holds the value nodes of each line in document order.
	lines    map[int][]valueAt
	unknown  map[int]bool
	problems []*FieldError
	fields   fieldCache
}

// valueAt is one value node of the document and the key path it sits at.
type valueAt struct {
	path   string
	column int
	// scalar is the node's text when it is a scalar, to tell apart
	// several values on one line of flow style.
	scalar   string
	isScalar bool
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

func (x *keyIndex) record(n *yaml.Node, path string) {
	x.lines[n.Line] = append(x.lines[n.Line], valueAt{
		path: path, column: n.Column, scalar: n.Value, isScalar: n.Kind == yaml.ScalarNode,
	})
}

func (x *keyIndex) walk(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return // decodes itself, such as Duration
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" && k.Tag == "!!merge" {
				x.walkMerge(v, t, path)
				continue
			}
			key := joinKey(path, k.Value)
			f, ok := x.fields.byTag(t, k.Value)
			if !ok {
				x.unknown[k.Line] = true
				x.problems = append(x.problems, &FieldError{Key: key, Problem: fmt.Sprintf("unknown key (line %d)", k.Line)})
				continue
			}
			x.record(v, key)
			x.walk(v, f.Type, key)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			key := fmt.Sprintf("%s[%d]", path, i)
			x.record(item, key)
			x.walk(item, t.Elem(), key)
		}
	}
}

// known tells whether every key of the tree under n is one the type t
// (and the types of its fields) decodes: the same look as walk, without
// recording anything.
func (fc fieldCache) known(n *yaml.Node, t reflect.Type) bool {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return true
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" && k.Tag == "!!merge" {
				for v.Kind == yaml.AliasNode && v.Alias != nil {
					v = v.Alias
				}
				merged := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					merged = v.Content
				}
				for _, m := range merged {
					if !fc.known(m, t) {
						return false
					}
				}
				continue
			}
			f, ok := fc.byTag(t, k.Value)
			if !ok || !fc.known(v, f.Type) {
				return false
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for _, item := range n.Content {
			if !fc.known(item, t.Elem()) {
				return false
			}
		}
	}
	return true
}

func (x *keyIndex) walkMerge(v *yaml.Node, t reflect.Type, path string) {
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, m := range v.Content {
			x.walk(m, t, path)
		}
		return
	}
	x.walk(v, t, path)
}

// fieldError turns one of the decoder's "line N: ..." messages into a
// FieldError naming the key it is about, or nil when the message is about
// an unknown key that walk already reported with its path.
func (x *keyIndex) fieldError(msg string) *FieldError {
	line, col, rest, ok := cutPosition(msg)
	if !ok {
		return &FieldError{Problem: msg}
	}
	if x.unknown[line] && strings.Contains(rest, " not found in type ") {
		return nil
	}
	return &FieldError{Key: x.keyAt(line, col, rest), Problem: fmt.Sprintf("%s (line %d)", rest, line)}
}

// keyAt finds the key path of the value a message is about: by column
// when the message gives one (Duration's do), else by the value the
// decoder quotes between backticks, else the innermost value on the line,
// which in block style is the only one.
func (x *keyIndex) keyAt(line, col int, msg string) string {
	vals := x.lines[line]
	if len(vals) == 0 {
		return ""
	}
	if col > 0 {
		for _, v := range vals {
			if v.column == col {
				return v.path
			}
		}
	}
	if _, quoted, ok := strings.Cut(msg, " `"); ok {
		quoted, _, _ = strings.Cut(quoted, "`")
		// The decoder cuts long values to 7 characters and "...".
		prefix, cut := strings.CutSuffix(quoted, "...")
		for _, v := range vals {
			if v.isScalar && (v.scalar == quoted || cut && strings.HasPrefix(v.scalar, prefix)) {
				return v.path
			}
		}
	}
	return vals[len(vals)-1].path
}

// cutPosition splits "line N: message" (the YAML decoder's form) or "line N,
// column C: message" (Duration's) into its parts; column is 0 if absent.
func cutPosition(msg string) (line, column int, rest string, ok bool) {
	head, rest, ok := strings.Cut(msg, ": ")
	if !ok {
		return 0, 0, "", false
	}
	head, ok = strings.CutPrefix(head, "line ")
	if !ok {
		return 0, 0, "", false
	}
	head, colText, hasCol := strings.Cut(head, ", column ")
	line, err := strconv.Atoi(head)
	if err != nil {
		return 0, 0, "", false
	}
	if hasCol {
		if column, err = strconv.Atoi(colText); err != nil {
			return 0, 0, "", false
		}
	}
	return line, column, rest, true
}

// fieldCache holds, for each struct type met while decoding one file, its
// fields by the YAML key that decodes them: a config of many apps asks the
// same few types for the same few keys a hundred thousand times.
type fieldCache map[reflect.Type]map[string]reflect.StructField

// byTag finds the field of struct type t decoded from YAML key name.
func (fc fieldCache) byTag(t reflect.Type, name string) (reflect.StructField, bool) {
	fields, ok := fc[t]
	if !ok {
		fields = map[string]reflect.StructField{}
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "-" || !f.IsExported() {
				continue
			}
			if tag == "" {
				tag = strings.ToLower(f.Name)
			}
			if _, dup := fields[tag]; !dup {
				fields[tag] = f
			}
		}
		fc[t] = fields
	}
	f, ok := fields[name]
	return f, ok
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
