package fhirxml

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
)

// maxDivDepth bounds the nesting checked in a stored narrative.
const maxDivDepth = 100

// checkDiv checks that a stored narrative is exactly one well-formed
// <div> in the XHTML namespace, without markup declarations, and returns it
// ready to embed. A div that does not declare its namespace (FHIR requires
// it to, but JSON senders forget) gets xmlns="http://www.w3.org/1999/xhtml";
// anything else is returned byte for byte.
func checkDiv(div string) (string, error) {
	div = strings.TrimSpace(div)
	if !strings.HasPrefix(div, "<div") || len(div) < 5 || !strings.ContainsRune(" \t\r\n/>", rune(div[4])) {
		return "", errors.New("the narrative does not start with <div")
	}
	xd := xml.NewDecoder(strings.NewReader(div))
	xd.Strict = true
	depth, declared := 0, false
	for {
		tok, err := xd.Token()
		if err != nil {
			return "", fmt.Errorf("the narrative is not one well-formed XHTML div: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				for _, a := range t.Attr {
					if a.Name.Space == "" && a.Name.Local == "xmlns" {
						if a.Value != XHTMLNamespace {
							return "", fmt.Errorf("the narrative div is in the namespace %q, not XHTML", truncate(a.Value, 80))
						}
						declared = true
					}
				}
			}
			if depth++; depth > maxDivDepth {
				return "", fmt.Errorf("the narrative nests deeper than %d elements", maxDivDepth)
			}
		case xml.EndElement:
			if depth--; depth > 0 {
				continue
			}
			if xd.InputOffset() != int64(len(div)) {
				return "", errors.New("the narrative div is followed by more content")
			}
			if !declared {
				div = `<div xmlns="` + XHTMLNamespace + `"` + div[4:]
			}
			return div, nil
		case xml.Directive:
			return "", errors.New("the narrative holds a markup declaration")
		}
	}
}
