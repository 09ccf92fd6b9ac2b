"""The GRIT grammars, shipped as package data (see grit.lark)."""
