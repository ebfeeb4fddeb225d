package site

import "github.com/citylog/citylog/site/jsverify"

// verifierScripts are the in-browser verifier's modules (site/jsverify),
// served beside app.js, which imports them.
func verifierScripts() []asset {
	var out []asset
	for _, name := range []string{"verify.js", "rules.js"} {
		b, err := jsverify.Files.ReadFile(name)
		if err != nil {
			panic(err)
		}
		out = append(out, asset{Path: "site/" + name, Data: b})
	}
	return out
}
