"""Interpreted: what a program computes, by the reference interpreter or a fast one, in
memory-bounded chunks, with compiled executables cached."""
