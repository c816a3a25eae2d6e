// Package compose will hold HyperBox's compose-project awareness (built on
// compose-go, going through compat like any client). Nothing is here yet;
// docs/COMPAT.md tracks what compose flows work.
package compose
