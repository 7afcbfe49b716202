package main

var runSimulator = notYet("simulator")
