package msgcrypt

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// envelope is the XML WeChat posts: the addressee and the ciphertext.
// The open platform names the addressee AppId; Official Account and WeCom
// callbacks name it ToUserName.
type envelope struct {
	XMLName    xml.Name `xml:"xml"`
	AppID      string   `xml:"AppId"`
	ToUserName string   `xml:"ToUserName"`
	Encrypt    string   `xml:"Encrypt"`
}

// ParseEnvelope reads the envelope of a push,
// <xml><AppId>..</AppId><Encrypt>..</Encrypt></xml>, and returns the
// addressee and the Encrypt value. ToUserName is accepted in place of
// AppId, as WeChat's other callbacks send it; there it may be the account's
// original id (gh_...) rather than an appid. The addressee is only a hint
// for routing: what proves a message's destination is the appid inside
// it, which Decrypt checks. Other elements are ignored.
//
// The caller limits the size of body. encoding/xml expands no external
// entities, so a DOCTYPE cannot make it read files or the network.
func ParseEnvelope(body []byte) (appID, encrypt string, err error) {
	var e envelope
	if err := xml.Unmarshal(body, &e); err != nil {
		return "", "", fmt.Errorf("%w: envelope: %w", ErrMalformed, err)
	}
	appID = strings.TrimSpace(e.AppID)
	if appID == "" {
		appID = strings.TrimSpace(e.ToUserName)
	}
	// Encrypt is kept as sent: it is what the signature covers.
	encrypt = e.Encrypt
	switch {
	case encrypt == "":
		return "", "", fmt.Errorf("%w: envelope has no Encrypt element", ErrMalformed)
	case appID == "":
		return "", "", fmt.Errorf("%w: envelope has neither AppId nor ToUserName", ErrMalformed)
	}
	return appID, encrypt, nil
}

// Envelope returns the envelope WeChat posts for appID and encrypt, the
// values in CDATA sections, as a simulator or a test sends it.
func Envelope(appID, encrypt string) []byte {
	var b strings.Builder
	b.WriteString("<xml><AppId>")
	writeCDATA(&b, appID)
	b.WriteString("</AppId><Encrypt>")
	writeCDATA(&b, encrypt)
	b.WriteString("</Encrypt></xml>")
	return []byte(b.String())
}

// writeCDATA writes s as CDATA, splitting any "]]>" in it across two
// sections, since a CDATA section cannot contain its own terminator.
func writeCDATA(b *strings.Builder, s string) {
	b.WriteString("<![CDATA[")
	b.WriteString(strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>"))
	b.WriteString("]]>")
}
