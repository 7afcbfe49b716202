package bolt

// PageWrites returns how many page writes the store's transactions have
// made since it was opened: every commit writes its dirty pages and a
// meta page, so writes that share commits make far fewer.
func PageWrites(s *Store) int64 {
	st := s.db.Stats()
	return st.TxStats.GetWrite()
}
