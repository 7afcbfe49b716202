package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/client"
)

func ExampleClient_AccessToken() {
	server := newFakeServer() // stands in for a running wxtoken server
	defer server.Close()

	// Make one Client per process and share it: the cache is in the Client.
	c, err := client.New(server.URL, testKey) // e.g. "http://127.0.0.1:8080", os.Getenv("WXTOKEN_KEY")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	token, err := c.AccessToken(ctx, "wx0123456789abcdef")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(token)

	// Later calls are answered from memory until the token nears its end.
	again, _ := c.AccessToken(ctx, "wx0123456789abcdef")
	fmt.Println(again == token)
	// Output:
	// wx0123456789abcdef-access_token-1
	// true
}

func ExampleClient_Invalidate() {
	server := newFakeServer() // stands in for a running wxtoken server
	defer server.Close()
	c, err := client.New(server.URL, testKey)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	token, err := c.AccessToken(ctx, "wx0123456789abcdef")
	if err != nil {
		log.Fatal(err)
	}

	// ... a WeChat API call with token answered errcode 40001, 42001 or
	// 40014: the token is dead. Report it instead of fetching a new one from
	// WeChat, which would kill the token every other server uses.
	fresh, err := c.Invalidate(ctx, "wx0123456789abcdef", token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(token)
	fmt.Println(fresh)
	// Output:
	// wx0123456789abcdef-access_token-1
	// wx0123456789abcdef-access_token-2
}

func ExampleClient_Transport() {
	server := newFakeServer() // stands in for a running wxtoken server
	defer server.Close()
	// Stands in for https://api.weixin.qq.com, where the first token has
	// just been revoked.
	wechatAPI := startFakeWeChat(40001, "wx0123456789abcdef-access_token-1")
	defer wechatAPI.Close()

	c, err := client.New(server.URL, testKey)
	if err != nil {
		log.Fatal(err)
	}
	wechat := &http.Client{
		Transport: c.Transport("wx0123456789abcdef", nil),
		Timeout:   10 * time.Second,
	}
	// No access_token parameter: the transport adds it, and replaces a dead
	// token once.
	resp, err := wechat.Post(wechatAPI.URL+"/cgi-bin/message/custom/send", "application/json",
		strings.NewReader(`{"touser":"OPENID","msgtype":"text","text":{"content":"hello"}}`))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	var answer struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		log.Fatal(err)
	}
	fmt.Println(answer.ErrCode, answer.ErrMsg)
	// Output: 0 ok
}
