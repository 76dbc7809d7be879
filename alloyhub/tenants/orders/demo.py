"""Demo customers and orders for the demo plants (after the products demo).
Orders are entered and confirmed through the services, as a planner would;
their due dates count from the day of seeding. Idempotent: a customer or an
order (by its customer PO) that exists is left alone."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from alloyhub.platform.db import db, utcnow
from alloyhub.tenants.equipment.demo import ALUMINIUM_PLANT, COPPER_PLANT
from alloyhub.tenants.products import services as products

from . import services
from .models import Order

CUSTOMERS = {
    ALUMINIUM_PLANT: [
        dict(code="HZPACK", name="Hangzhou Foil Packaging 杭州箔材包装", contact_name="李娜 Li Na",
             email="li.na@hzpack.example.com", transit_days=1),
        dict(code="SHHVAC", name="Shanghai HVAC Components 上海暖通部件", contact_name="陈刚 Chen Gang",
             email="purchasing@shhvac.example.com", transit_days=1),
        dict(code="NBAUTO", name="Ningbo Auto Parts 宁波汽配", contact_name="王磊 Wang Lei",
             email="wang.lei@nbauto.example.com", transit_days=2),
        dict(code="JSSIGN", name="Jiangsu Signage 江苏标牌", contact_name="赵敏 Zhao Min", transit_days=1),
    ],
    COPPER_PLANT: [
        dict(code="SZCABLE", name="Suzhou Cable Works 苏州电缆", contact_name="周杰 Zhou Jie", transit_days=1),
    ],
}
# (customer, PO, [(product, quantity, unit, due in days, priority)], confirm)
ORDERS = {
    ALUMINIUM_PLANT: [
        ("HZPACK", "HZ-PO-2026-118", [("8011-O-0.2X1200", 60, "t", 21, 2), ("8011-O-0.2X1200", 30, "t", 35, 2)], True),
        ("SHHVAC", "SH-7731", [("3003-H14-0.5X1000", 12, "coils", 18, 3)], True),
        ("NBAUTO", "NB-24-0456", [("5052-H32-1.5X1500", 90, "t", 28, 2)], True),
        ("JSSIGN", "JS-2026-031", [("1060-O-1.0X1250", 25, "t", 14, 4), ("3003-H14-0.5X1000", 20, "t", 30, 2)],
         True),
        ("SHHVAC", "SH-7790", [("3003-H14-0.5X1000", 40, "t", 42, 2)], False),
    ],
    COPPER_PLANT: [
        ("SZCABLE", "SZC-0912", [("T2-Y-2.6", 30, "t", 14, 2), ("H65-M-1.0", 8, "t", 21, 2)], True),
    ],
}


def seed_demo(tenant, company, report) -> None:
    if company.name not in CUSTOMERS:
        return
    for fields in CUSTOMERS[company.name]:
        if services.customer_by_code(fields["code"]) is None:
            services.create_customer(**fields)
            report.created.append(f"customer {fields['code']} for {company.name}")
    today = utcnow().date()
    for customer_code, po, lines, confirm in ORDERS[company.name]:
        if db.session.scalar(select(Order.id).where(Order.customer_po == po)) is not None:
            continue
        customer = services.customer_by_code(customer_code)
        rows = []
        for code, quantity, unit, days, priority in lines:
            product = products.product_by_code(code)
            if product is None:
                return  # the products demo is missing
            rows.append({"product_id": product.id, "quantity": float(quantity), "quantity_unit": unit,
                         "due_date": today + timedelta(days=days), "priority": priority})
        order = services.create_order(customer_id=customer.id, customer_po=po, lines=rows,
                                      notes="Demo order 演示订单")
        if confirm:
            services.confirm_order(order)
        report.created.append(f"order {order.number} for {company.name}")
