package msgcrypt_test

import (
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/msgcrypt"
)

// Known answers from the samples WeChat publishes with its message crypto
// libraries (WXBizMsgCrypt) and from its open platform documentation. An
// implementation that agrees with them agrees with WeChat.

func TestOfficialVectorEncryptsAsWeChatDoes(t *testing.T) {
	// The Java sample's testAesEncrypt: fixed random bytes, so the
	// ciphertext is fixed too.
	c := mustNew(t, "pamtest", sampleKey, "wxb11529c136998cb6")
	var random [16]byte
	copy(random[:], "aaaabbbbccccdddd")
	got, err := c.EncryptWithRandom(random, []byte("我是中文abcd123"))
	if err != nil {
		t.Fatal(err)
	}
	const want = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
	if got != want {
		t.Fatalf("ciphertext\n got %s\nwant %s", got, want)
	}
}

func TestOfficialVectorVerifiesURL(t *testing.T) {
	// The Java sample's testVerifyUrl: the echostr of a URL check.
	c := mustNew(t, "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7")
	const (
		sig       = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
		timestamp = "1409659589"
		nonce     = "263014780"
		echo      = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
	)
	if got := c.Signature(timestamp, nonce, echo); got != sig {
		t.Fatalf("Signature = %s, want %s", got, sig)
	}
	msg, err := c.Decrypt(sig, timestamp, nonce, echo)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg) != "1616140317555161061" {
		t.Fatalf("echostr = %q", msg)
	}
}

func TestOfficialVectorDecryptsAPush(t *testing.T) {
	// The Python sample: an Official Account message whose envelope
	// names the addressee in ToUserName; the plaintext keeps its
	// newlines.
	c := mustNew(t, "spamtest", sampleKey, "wx2c2769f8efd9abc2")
	body := `<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>`
	to, encrypt, err := msgcrypt.ParseEnvelope([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if to != "gh_10f6c3c3ac5a" {
		t.Errorf("addressee = %q", to)
	}
	msg, err := c.Decrypt("5d197aaffba7e9b25a30732f161a50dee96bd5fa", "1409735669", "1320562132", encrypt)
	if err != nil {
		t.Fatal(err)
	}
	want := "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>"
	if string(msg) != want {
		t.Fatalf("message\n got %q\nwant %q", msg, want)
	}
}

func TestOfficialVectorOpenPlatformExample(t *testing.T) {
	// The open platform documentation's worked example: a key of 43
	// "A"s (32 zero bytes), a push and an encrypted reply.
	c := mustNew(t, "AAAAA", strings.Repeat("A", 43), "wx134c8103faa5a59e")
	body := `<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==]]></Encrypt></xml>`
	_, encrypt, err := msgcrypt.ParseEnvelope([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	const sig = "6c12a4205838198b8fa631b3220723bb07f1015c"
	if got := c.Signature("1715943329", "1590219412", encrypt); got != sig {
		t.Fatalf("Signature = %s, want %s", got, sig)
	}
	msg, err := c.Decrypt(sig, "1715943329", "1590219412", encrypt)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) != 292 || !strings.Contains(string(msg), "<Event><![CDATA[debug_demo]]></Event>") {
		t.Fatalf("message of %d bytes: %q", len(msg), msg)
	}

	var random [16]byte
	copy(random[:], "999951349e8ee746")
	reply, err := c.EncryptWithRandom(random, []byte(`<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>`))
	if err != nil {
		t.Fatal(err)
	}
	const wantReply = "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
	if reply != wantReply {
		t.Fatalf("reply\n got %s\nwant %s", reply, wantReply)
	}
	if got := c.Signature("1713424427", "415670741", reply); got != "03e0812039325c2712ef5f0f980fd14c70d6e307" {
		t.Fatalf("reply signature = %s", got)
	}
}
