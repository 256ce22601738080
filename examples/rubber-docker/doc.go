// Package rubberdocker holds the tests of the rubber-docker recipes: the
// levels of the "Docker from Scratch" workshop, each a short nsh script
// run against a busybox-static root.
package rubberdocker
