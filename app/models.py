"""Imports every table so that metadata is complete (Alembic, tests)."""

from app.aftersales.models import (
    AfterSalesConflict,
    AfterSalesReport,
    AfterSalesStaff,
    AfterSalesTask,
    ScreenToken,
)
from app.alerts.models import Alert, AlertDelivery, AlertLevel
from app.auth.models import ApiToken, AuditEntry, User
from app.chat.models import ChatSession, Group, Message, MessageCorrection, Person
from app.commands.models import Command
from app.db import Base
from app.flows.models import FlowDefinition, FlowRun, FlowStep
from app.replies.models import ReplyTemplate
from app.robots.models import CommandResult, Robot, RobotHealth, robot_groups
from app.system.models import SystemSetting
from app.understanding.models import TrainedModel

__all__ = [
    "AfterSalesConflict",
    "AfterSalesReport",
    "AfterSalesStaff",
    "AfterSalesTask",
    "Alert",
    "AlertDelivery",
    "AlertLevel",
    "ApiToken",
    "AuditEntry",
    "Base",
    "ChatSession",
    "Command",
    "CommandResult",
    "FlowDefinition",
    "FlowRun",
    "FlowStep",
    "Group",
    "Message",
    "MessageCorrection",
    "Person",
    "ReplyTemplate",
    "Robot",
    "RobotHealth",
    "ScreenToken",
    "SystemSetting",
    "TrainedModel",
    "User",
    "robot_groups",
]
