package refresh

// Apps returns the configuration of every id the engine keeps, in the
// engine's order: for what works beside the engine on the same apps
// (WeChat's quota figures), without the cost of Status.
func (e *Engine) Apps() []AppConfig {
	apps := e.all()
	out := make([]AppConfig, len(apps))
	for i, a := range apps {
		out[i] = a.cfg
	}
	return out
}

// AppConfig returns the configuration of id; false when it is not kept.
func (e *Engine) AppConfig(id string) (AppConfig, bool) {
	a := e.app(id)
	if a == nil {
		return AppConfig{}, false
	}
	return a.cfg, true
}
