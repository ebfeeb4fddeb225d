package site

import "html/template"

// worldMap draws the allocated cities on a world map (placeholder until
// site/worldmap lands).
func (b *builder) worldMap() (template.HTML, error) {
	return template.HTML(`<p>` + groupDigits(uint64(len(b.m.Cells))) + ` map cells.</p>`), nil
}
