"""/api/v1: products, their routings, set-up rules and the set-up time of a
change-over."""
from __future__ import annotations

from flask.views import MethodView

from alloyhub.platform.api import Blueprint, PageArgs, page_of, paginate
from alloyhub.platform.auth import requires

from . import schemas as s
from . import services
from .models import Product, SetupRule
from .permissions import PRODUCTS_READ, PRODUCTS_WRITE

blp = Blueprint("products_api", __name__, url_prefix="/api/v1",
                description="Products, routings and set-up (change-over) rules")


@blp.route("/products")
class Products(MethodView):
    @requires(PRODUCTS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.ProductFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.ProductSchema))
    def get(self, args, q=None, alloy_family=None, active=None):
        """Products (search code, name or alloy; filter by family or active)"""
        return paginate(services.products_query(q, alloy_family, active), args, (Product.code, Product.id))

    @requires(PRODUCTS_WRITE)
    @blp.arguments(s.ProductSchema)
    @blp.response(201, s.ProductSchema)
    def post(self, data):
        """Add a product: alloy, temper, gauge × width, coil weight, tolerances"""
        return services.create_product(**data)


@blp.route("/products/<uuid:product_id>")
class ProductItem(MethodView):
    @requires(PRODUCTS_READ)
    @blp.etag
    @blp.response(200, s.ProductSchema)
    def get(self, product_id):
        """One product"""
        return services.get_product(product_id)

    @requires(PRODUCTS_WRITE)
    @blp.etag
    @blp.arguments(s.ProductUpdateSchema)
    @blp.response(200, s.ProductSchema)
    def patch(self, data, product_id):
        """Change a product (If-Match); a spec its routing cannot make is refused with 422"""
        product = services.get_product(product_id)
        blp.check_etag(product, s.ProductSchema)
        return services.update_product(product, **data)

    @requires(PRODUCTS_WRITE)
    @blp.response(204)
    def delete(self, product_id):
        """Delete a product no order names (409 otherwise: mark it inactive)"""
        services.delete_product(services.get_product(product_id))


@blp.route("/products/<uuid:product_id>/routing")
class Routing(MethodView):
    @requires(PRODUCTS_READ)
    @blp.etag
    @blp.response(200, s.RoutingSchema)
    def get(self, product_id):
        """The product's routing: its operations in order, with eligible units"""
        return services.get_product(product_id)

    @requires(PRODUCTS_WRITE)
    @blp.etag
    @blp.arguments(s.RoutingSchema)
    @blp.response(200, s.RoutingSchema)
    def put(self, data, product_id):
        """Replace the routing (If-Match). An impossible routing (an operation
        without an eligible unit, a unit that cannot take the product's alloy,
        width or gauge …) is refused with 422 listing every problem; nothing changes."""
        product = services.get_product(product_id)
        blp.check_etag(product, s.RoutingSchema)
        operations = [{**op, "units": op.pop("eligible", [])} for op in data["operations"]]
        return services.set_routing(product, operations)


@blp.route("/products/<uuid:product_id>/routing/check")
class RoutingCheck(MethodView):
    @requires(PRODUCTS_READ)
    @blp.response(200, s.RoutingProblemsSchema)
    def get(self, product_id):
        """Is the saved routing still possible with the units as they are now?"""
        product = services.get_product(product_id)
        problems = services.routing_problems(product)
        return {"product_id": product.id, "possible": not problems and bool(product.operations),
                "problems": {k: [str(m) for m in v] for k, v in problems.items()}}


@blp.route("/setup-rules")
class SetupRules(MethodView):
    @requires(PRODUCTS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.SetupRuleFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.SetupRuleSchema))
    def get(self, args, unit_id=None, kind=None):
        """Set-up (change-over) rules"""
        return paginate(services.setup_rules_query(unit_id, kind), args, (SetupRule.created_at, SetupRule.id))

    @requires(PRODUCTS_WRITE)
    @blp.arguments(s.SetupRuleSchema)
    @blp.response(201, s.SetupRuleSchema)
    def post(self, data):
        """Add a set-up rule: minutes when consecutive jobs differ in alloy family,
        alloy, temper, width (up or down) or gauge"""
        return services.create_setup_rule(**data)


@blp.route("/setup-rules/<uuid:setup_rule_id>")
class SetupRuleItem(MethodView):
    @requires(PRODUCTS_READ)
    @blp.etag
    @blp.response(200, s.SetupRuleSchema)
    def get(self, setup_rule_id):
        """One set-up rule"""
        return services.get_setup_rule(setup_rule_id)

    @requires(PRODUCTS_WRITE)
    @blp.etag
    @blp.arguments(s.SetupRuleUpdateSchema)
    @blp.response(200, s.SetupRuleSchema)
    def patch(self, data, setup_rule_id):
        """Change a set-up rule (If-Match)"""
        rule = services.get_setup_rule(setup_rule_id)
        blp.check_etag(rule, s.SetupRuleSchema)
        return services.update_setup_rule(rule, **data)

    @requires(PRODUCTS_WRITE)
    @blp.response(204)
    def delete(self, setup_rule_id):
        """Delete a set-up rule"""
        services.delete_setup_rule(services.get_setup_rule(setup_rule_id))


def job_from(data: dict):
    if data.get("product_id"):
        return services.get_product(data["product_id"])
    return data


@blp.route("/setup-time")
class SetupTime(MethodView):
    @requires(PRODUCTS_READ)
    @blp.arguments(s.SetupQuerySchema)
    @blp.response(200, s.SetupAnswerSchema)
    def post(self, data):
        """Minutes of change-over on a unit from one job to the next, with the rules that count"""
        unit = services.equipment.get_unit(data["unit_id"])
        calc = services.setup_calculator(unit)
        a, b = job_from(data["from_job"]), job_from(data["to_job"])
        counted = calc.explain(a, b)
        return {"unit_id": unit.id, "minutes": calc.minutes(a, b), "combine": calc.combine,
                "rules": [{"id": r.id, "kind": r.kind, "minutes": m, "unit_id": r.unit_id,
                           "description": r.description} for r, m in counted]}
