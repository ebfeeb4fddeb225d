package verifier

import "github.com/citylog/citylog/log/idcode"

func newCode(cc, sub string, index uint64) (string, error) {
	c, err := idcode.New(cc, sub, index)
	return c.String(), err
}
