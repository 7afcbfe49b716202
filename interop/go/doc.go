// Package interop holds interoperability tests: real third-party WeChat
// SDKs, unchanged but for the setting that points them at another API
// host, talking to wxtoken's WeChat-compatible front door in front of the
// WeChat simulator. It is a module of its own so that the SDKs never enter
// wxtoken's own dependency list.
package interop
