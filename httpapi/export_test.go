package httpapi

// Patterns returns the patterns of the routes New registered in h's mux,
// for the tests that hold them to the OpenAPI description.
func (h *Handler) Patterns() []string { return append([]string(nil), h.patterns...) }
