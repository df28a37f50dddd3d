package auth

// FullVerifications is how many tokens v verified in full (not from its
// cache).
func FullVerifications(v *Verifier) int64 { return v.verified.Load() }

// CachedTokens is how many tokens v's cache holds (0 without one).
func CachedTokens(v *Verifier) int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}

const CacheMaxEntries, CacheMaxTokenBytes = cacheMaxEntries, cacheMaxTokenBytes
