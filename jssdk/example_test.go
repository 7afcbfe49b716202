package jssdk_test

import (
	"fmt"

	"github.com/wxtoken/wxtoken/jssdk"
)

// The worked example of WeChat's JS-SDK documentation.
func ExampleSign() {
	ticket := "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
	page, err := jssdk.NormalizeURL("http://mp.weixin.qq.com?params=value#section")
	if err != nil {
		panic(err)
	}
	fmt.Println(page)
	fmt.Println(jssdk.Sign(ticket, "Wm3WZYTPz0wzccnW", 1414587457, page))
	// Output:
	// http://mp.weixin.qq.com?params=value
	// 0f9de62fce790f9a083d5c99e95740ceb90c27ed
}
