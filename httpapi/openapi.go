package httpapi

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"go.yaml.in/yaml/v3"
)

// routeOpenAPI serves the OpenAPI description of the API, to anyone.
const routeOpenAPI = "GET /openapi.json"

// specFiles holds openapi.yaml, the OpenAPI 3.1 description of every
// route: its source lives beside the handlers so that it can be embedded,
// and docs/openapi.yaml is a copy that the package's tests hold equal to
// it.
//
//go:embed openapi.yaml
var specFiles embed.FS

// OpenAPIYAML returns the OpenAPI description of the API as written, in
// YAML.
func OpenAPIYAML() []byte {
	b, err := specFiles.ReadFile("openapi.yaml")
	if err != nil {
		// Unreachable: the file is embedded at build time.
		return nil
	}
	return b
}

// OpenAPIJSON returns the OpenAPI description of the API as JSON, what GET
// /openapi.json answers: the YAML's mappings with their keys in the
// order written, every key a string (a status such as 200 included).
func OpenAPIJSON() ([]byte, error) {
	b, err := openAPIJSON()
	return bytes.Clone(b), err
}

// openAPIJSON converts the embedded description once per process, for
// the first Handler: the conversion takes tens of milliseconds, and its
// result, made of a file fixed at build time, is the same for every one.
// Nothing writes to the bytes it returns.
var openAPIJSON = sync.OnceValues(convertOpenAPI)

// convertOpenAPI converts the embedded YAML description to JSON.
func convertOpenAPI() ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(OpenAPIYAML(), &doc); err != nil {
		return nil, fmt.Errorf("httpapi: reading openapi.yaml: %w", err)
	}
	var buf bytes.Buffer
	if err := nodeJSON(&buf, &doc); err != nil {
		return nil, fmt.Errorf("httpapi: converting openapi.yaml to JSON: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// nodeJSON appends the JSON of a YAML node to buf.
func nodeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return errors.New("want exactly one YAML document")
		}
		return nodeJSON(buf, n.Content[0])
	case yaml.AliasNode:
		return nodeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a mapping key that is not a scalar", k.Line)
			}
			if k.Value == "<<" && k.Tag == "!!merge" {
				return fmt.Errorf("line %d: merge keys are not supported", k.Line)
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := jsonValue(buf, k.Value); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := nodeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := nodeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		return jsonValue(buf, v)
	}
	return fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// jsonValue appends v as JSON, without escaping HTML characters.
func jsonValue(buf *bytes.Buffer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	return nil
}

// serveOpenAPI answers the description that New was given.
func (h *Handler) serveOpenAPI(ex *exchange, _ *http.Request, _ params) error {
	ex.Header()["Content-Type"] = h.jsonType
	ex.WriteHeader(http.StatusOK)
	_, _ = ex.Write(h.openAPI)
	return nil
}
