package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Hash returns a short, stable digest of everything that defines the
// container. encoding/json sorts map keys and keeps slice order, which is
// exactly the canonical form wanted here.
func (c *ContainerSpec) Hash() string {
	b, err := json.Marshal(c)
	if err != nil {
		// Only unsupported types make Marshal fail; ContainerSpec has none.
		panic("cluster: ContainerSpec is not JSON-serialisable: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
