"""Durable outbound command queue (指令队列): every WorkTool send is a row, sent at most once."""
