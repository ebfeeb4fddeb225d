package site

// verifierScripts are the in-browser verifier's modules (site/jsverify).
func verifierScripts() []asset {
	return []asset{
		{Path: "site/verify.js", Data: []byte("export function parseCode() { return {ok:false, error:'verifier not built'}; }\nexport async function verifyCode() { return {verdict:'unchecked', detail:'verifier not built', fetched:[]}; }\n")},
		{Path: "site/rules.js", Data: []byte("export const rules = {};\n")},
	}
}
