"""Tests of the AgentScope adapter."""
